"""Commissioning: find the drawer's amount format with the drawer at hand, before going live.

A wrong format charges 100 times too much or too little, and no public CKFast specification says
which one CKMonitor expects. So ask the drawer: send test tickets whose Importe reads differently
in each format, and let the installer say what the CashKeeper's screen shows.
1. Importe "100" (1.00 written in cents): the screen shows 1.00 -> cents; 100.00 -> go on;
2. Importe "1.50" (decimal with a dot): the screen shows 1.50 -> decimal with a dot; else go on;
3. Importe "1,50" (decimal with a comma): the screen shows 1.50 -> decimal with a comma.
A probe CKMonitor refuses outright (it does not read that way) goes on to the next by itself.
The test tickets are ledger tickets (purpose "commissioning"), watched like any other: cash put
into one is flagged, never lost.
"""

from decimal import Decimal

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..ckfast import AmountFormat

# step -> (amount, the format it is written in): Importe "100", "1.50", "1,50".
PROBES = {
    "units": (Decimal("1"), AmountFormat.CENTS),
    "dot": (Decimal("1.5"), AmountFormat.DECIMAL_DOT),
    "comma": (Decimal("1.5"), AmountFormat.DECIMAL_COMMA),
}
NEXT = {"units": "dot", "dot": "comma", "comma": None}


class PosCashKeeperCommissioning(models.TransientModel):
    _name = "pos.cashkeeper.commissioning"
    _description = "CashKeeper commissioning: amount format"

    method_id = fields.Many2one("pos.payment.method", required=True, ondelete="cascade")
    step = fields.Selection([("start", "Start"), ("units", "100"), ("dot", "1.50"), ("comma", "1,50"),
                             ("done", "Done")], default="start", required=True)
    ticket_ids = fields.Many2many("pos.cashkeeper.ticket", string="Test tickets")
    ticket_name = fields.Char(compute="_compute_question", string="Test ticket")
    question = fields.Char(compute="_compute_question")
    answer = fields.Selection([
        ("expected", "Yes, that amount"),
        ("other", "Another amount (e.g. 100.00 or 150.00)"),
        ("nothing", "Nothing, or an error"),
    ], string="The CashKeeper shows")
    result = fields.Char(readonly=True)

    @api.depends("ticket_ids", "step")
    def _compute_question(self):
        for wizard in self:
            wizard.ticket_name = wizard.ticket_ids.sorted("id")[-1:].name or False
            wizard.question = {
                "units": _("Does the CashKeeper's screen show 1.00 (one) for ticket %s?", wizard.ticket_name),
                "dot": _("Does the CashKeeper's screen show 1.50 (one and a half) for ticket %s?", wizard.ticket_name),
                "comma": _("Does the CashKeeper's screen show 1.50 (one and a half) for ticket %s?",
                           wizard.ticket_name),
            }.get(wizard.step, False)

    def action_send_first(self):
        self.method_id._cashkeeper_check_manager()
        if self.method_id.open_session_ids:
            raise UserError(_("Close the POS sessions that use %s first: its amount format cannot change while a "
                              "register is open.", self.method_id.name))
        return self._probe("units")

    def action_confirm(self):
        self.method_id._cashkeeper_check_manager()
        if not self.answer:
            raise UserError(_("Say what the CashKeeper's screen shows for ticket %s.", self.ticket_name))
        if self.answer == "expected":
            return self._finish(PROBES[self.step][1])
        if self.answer == "nothing":
            raise UserError(_(
                "The CashKeeper shows nothing for ticket %s: check Test connection, that CKMonitor is running and "
                "its ID caja / Terminal settings, then start again. If the ticket appears later, cancel it on the "
                "drawer.", self.ticket_name))
        return self._probe(NEXT[self.step])

    def _probe(self, step):
        """Send the probe of ``step``; one CKMonitor refuses outright leads to the next by itself."""
        while step:
            amount, amount_format = PROBES[step]
            ticket = self.env["pos.cashkeeper.ticket"]._cashkeeper_commissioning_ticket(self.method_id, amount,
                                                                                          amount_format)
            self.write({"step": step, "answer": False, "ticket_ids": [fields.Command.link(ticket.id)]})
            if ticket.state == "new" and ticket.last_error:
                raise UserError(_("The test ticket did not reach the CashKeeper: %s", ticket.last_error))
            if ticket.state != "failed":
                return self._reopen()
            step = NEXT[step]
        raise UserError(_(
            "CKMonitor took none of the amount formats known (tickets %s): ask CashKeeper which Importe format this "
            "CKMonitor expects.", ", ".join(self.ticket_ids.mapped("name"))))

    def _finish(self, amount_format):
        self.method_id.sudo().with_context(cashkeeper_commissioning=True).write({
            "cashkeeper_amount_format": amount_format.value,
            "cashkeeper_commissioned_at": fields.Datetime.now(),
            "cashkeeper_commissioned_by": self.env.uid,
        })
        label = dict(self.method_id._fields["cashkeeper_amount_format"]._description_selection(self.env))
        self.write({"step": "done", "result": _(
            "Amount format set to: %(format)s. Now cancel the test ticket(s) %(tickets)s on the CashKeeper: they "
            "are in the ledger, and any cash put into them is flagged for the manager.",
            format=label[amount_format.value], tickets=", ".join(self.ticket_ids.mapped("name")))})
        return self._reopen()

    def _reopen(self):
        return {"type": "ir.actions.act_window", "res_model": self._name, "res_id": self.id, "view_mode": "form",
                "target": "new", "name": _("Commission the CashKeeper")}
