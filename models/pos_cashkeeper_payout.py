"""Refunds paid out at the drawer: the ledger's payout entries (``purpose = "payout"``).

CKFast as known has no payout command (ckfast/PROTOCOL.md). So the cashier pays the refund out
through what the shop's CashKeeper offers outside Odoo and confirms it in the POS; where the
payment method asks for it, a POS manager confirms it. The entry records who, when, the order
and the (negative) amount, and says it was declared, not confirmed by the drawer. It backs the
refund's ``pos.payment`` one to one, by the rules of a collection (``_binding_problem``: same
line, same amount, one payment each); a declared payout on no order is flagged like cash.

Should CKMonitor ever be shown to have a payout command, ``_payout_declare`` is the one place
to change: send it there through the method's transport and set ``paid_out`` on its answer.
"""

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import float_compare

MANAGERS = "point_of_sale.group_pos_manager"


class PosCashKeeperPayout(models.AbstractModel):
    _name = "pos.cashkeeper.payout"
    _description = "CashKeeper payouts: refunds paid out at the drawer"

    @api.model
    def _cashkeeper_payout(self, method, session, payment_uuid, amount, order_uuid="", order_ref="",
                           refunded_orders=None, confirmed=False):
        """A refund line of the POS. Before the cashier pays out (``confirmed`` False): the rules
        checked and what to do; once they confirm: the payout entry (a second call resumes it)."""
        entry = self._live_ticket(payment_uuid)
        if not entry:
            self._check_payout(method, session, amount, refunded_orders or self.env["pos.order"])
            manager = method.cashkeeper_payout_by_manager and not self.env.user.has_group(MANAGERS)
            if not confirmed:
                return self._payout_instructions(session, amount, manager)
            with self._line_lock(payment_uuid):
                entry = self._live_ticket(payment_uuid)  # a double click's first request made it
                if not entry:
                    entry = self._payout_declare(method, session, payment_uuid, amount, order_uuid, order_ref,
                                                 manager)
        entry._check_same_payment(method, session, amount, order_uuid)
        return entry._result()

    @api.model
    def _check_payout(self, method, session, amount, refunded_orders):
        if not method.cashkeeper_payouts:
            raise UserError(_(
                "The %(method)s payment method does not pay out refunds: refund with another payment method, or ask "
                "a manager to turn on \"Refunds paid out at the drawer\" on it.", method=method.name))
        self._check_amount(session, amount, payout=True)
        if problem := refunded_orders._cashkeeper_refund_problem():
            raise UserError(problem)

    @api.model
    def _payout_instructions(self, session, amount, manager):
        text = _("Pay out %s to the customer at the CashKeeper, with its own screen or menu. Confirm here once the "
                 "customer has the cash: Odoo records the payout as declared by you (the drawer does not confirm "
                 "it).", session.currency_id.format(-amount))
        if manager:
            text += " " + _("A POS manager then confirms it in Odoo.")
        return {"ticket": False, "state": "none", "final": False, "message": text, "attempts": 0, "amount": amount}

    @api.model
    def _payout_declare(self, method, session, payment_uuid, amount, order_uuid, order_ref, manager):
        """The cashier says the cash was paid out: record it (awaiting a manager where one must confirm)."""
        now, currency = fields.Datetime.now(), session.currency_id
        confirmed = {} if manager else {"confirmed_by": self.env.uid, "confirmed_at": now, "settled_at": now}
        entry = self.create({
            "name": self._new_ticket_id(),
            "purpose": "payout",
            "state": "payout_waiting" if manager else "paid_out",
            "payment_method_id": method.id,
            "session_id": session.id,
            "company_id": session.company_id.id,
            "currency_id": currency.id,
            "amount": currency.round(amount),
            "payment_uuid": payment_uuid,
            "order_uuid": order_uuid or "",
            "order_ref": order_ref or "",
            **confirmed,
        })
        entry.message_post(body=_(
            "%(user)s paid out %(amount)s at the drawer for order %(order)s: declared by the cashier, not confirmed "
            "by the drawer.", user=self.env.user.name, amount=currency.format(-entry.amount),
            order=order_ref or order_uuid or "?"))
        self._commit()  # the cash has left the drawer: the entry outlives whatever fails next
        return entry

    def _payout_message(self):
        amount = self.currency_id.format(-self.amount)
        return {
            "payout_waiting": _("Payout %(ticket)s of %(amount)s waits for a POS manager: ask one to open Point of "
                                "Sale > Orders > CashKeeper Tickets and confirm it.", ticket=self.name, amount=amount),
            "paid_out": _("Paid out %s: declared by the cashier, not confirmed by the drawer.", amount),
            "payout_cancelled": _("Payout %(ticket)s was cancelled (%(why)s): nothing is recorded as paid out. If the "
                                  "cash did leave the drawer, tell a manager.", ticket=self.name,
                                  why=self.last_error or ""),
        }.get(self.state, False)

    def _payout_withdraw(self):
        """The cashier cancels a payout a manager has not confirmed yet."""
        with self._announcing() as transport:
            if self.state == "payout_waiting":
                self._set_state("payout_cancelled", settled_at=fields.Datetime.now(),
                                last_error=_("withdrawn by the cashier before a manager confirmed it"))
        return self._result(transport)

    def _payout_binding_problem(self, payment):
        if self.state != "paid_out":
            return _("payout %(ticket)s is not confirmed (%(state)s)", ticket=self.name, state=self._state_label())
        if float_compare(self.amount, payment.amount, precision_rounding=self.currency_id.rounding):
            return _("payout %(ticket)s was declared for %(amount)s", ticket=self.name,
                     amount=self.currency_id.format(self.amount))
        return payment.pos_order_id.refunded_order_id._cashkeeper_refund_problem()

    # -- a POS manager's buttons on the ticket form -------------------------------------------
    def action_cashkeeper_confirm_payout(self):
        for entry in self._payouts_for_a_manager():
            now = fields.Datetime.now()
            with entry._announcing():
                entry._set_state("paid_out", confirmed_by=self.env.uid, confirmed_at=now, settled_at=now)
            entry.message_post(body=_("Payout confirmed by %s.", self.env.user.name))

    def action_cashkeeper_refuse_payout(self):
        for entry in self._payouts_for_a_manager():
            with entry._announcing():
                entry._set_state("payout_cancelled", settled_at=fields.Datetime.now(),
                                 last_error=_("refused by %s", self.env.user.name))

    def _payouts_for_a_manager(self):
        # Buttons are public methods: a cashier could call them over RPC.
        if not self.env.user.has_group(MANAGERS):
            raise AccessError(_("Only Point of Sale managers can confirm or refuse a CashKeeper payout."))
        waiting = self.sudo().filtered(lambda t: t.purpose == "payout" and t.state == "payout_waiting")
        if not waiting:
            raise UserError(_("There is no payout waiting for a manager here."))
        return waiting
