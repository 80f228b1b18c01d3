from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .cashkeeper_states import BOUND_STATES, OPEN_STATES, PAID_STATES


class PosSession(models.Model):
    _inherit = "pos.session"

    cashkeeper_warning = fields.Char(compute="_compute_cashkeeper", string="CashKeeper warning")
    cashkeeper_collected = fields.Monetary(compute="_compute_cashkeeper", string="CashKeeper: collected by the drawer",
                                           help="What the drawer collected for this session (paid tickets).")
    cashkeeper_paid_out = fields.Monetary(compute="_compute_cashkeeper", string="CashKeeper: paid out",
                                          help="Refunds paid out at the drawer for this session (declared in the POS).")
    cashkeeper_net = fields.Monetary(compute="_compute_cashkeeper", string="CashKeeper: net",
                                     help="Collected minus paid out: what the session left in the drawer.")
    cashkeeper_booked = fields.Monetary(compute="_compute_cashkeeper", string="CashKeeper: payments in the books",
                                        help="The CashKeeper payments of this session's orders (refunds negative).")
    cashkeeper_difference = fields.Monetary(compute="_compute_cashkeeper", string="CashKeeper: difference",
                                            help="Net minus in the books: should be 0.")

    @api.depends("state", "order_ids.payment_ids")
    def _compute_cashkeeper(self):
        for session in self:
            figures = session._cashkeeper_figures()
            for key in ("collected", "paid_out", "net", "booked", "difference"):
                session[f"cashkeeper_{key}"] = figures[key]
            session.cashkeeper_warning = session._cashkeeper_closing_warning()

    def _cashkeeper_tickets(self, states):
        return self.env["pos.cashkeeper.ticket"].sudo().search([("session_id", "=", self.id), ("state", "in", states)])

    def _cashkeeper_booked_payments(self):
        """The CashKeeper payments these sessions put in the books (orders neither draft nor cancelled)."""
        return self.env["pos.payment"].sudo().search([
            ("session_id", "in", self.ids), ("payment_method_id.use_payment_terminal", "=", "cashkeeper"),
            ("pos_order_id.state", "not in", ("draft", "cancel")),
        ])

    def _cashkeeper_figures(self):
        """What went through the drawer against the books, for closing: should differ by 0."""
        self.ensure_one()
        rnd = self.currency_id.round
        collected = rnd(sum(self._cashkeeper_tickets(PAID_STATES).mapped("amount")))
        paid_out = rnd(-sum(self._cashkeeper_tickets(("paid_out",)).mapped("amount")))
        booked = rnd(sum(self._cashkeeper_booked_payments().mapped("amount")))
        return {"collected": collected, "paid_out": paid_out, "net": rnd(collected - paid_out), "booked": booked,
                "difference": rnd(collected - paid_out - booked)}

    def _cashkeeper_closing_warning(self):
        """Said when the register closes: the drawer may still take cash for this session, took some
        that is on no order, or lost a ticket. A warning, not a block: the manager decides."""
        self.ensure_one()
        checks = (  # (tickets, what to say of them)
            (self._cashkeeper_tickets(OPEN_STATES),
             _("%(count)s ticket(s) may still collect cash at the drawer (%(names)s): cancel them on the "
               "CashKeeper first.")),
            (self._cashkeeper_tickets(("payout_waiting",)),
             _("%(count)s payout(s) wait for a manager to confirm them (%(names)s).")),
            (self._cashkeeper_tickets(("paid_out",)).filtered(lambda t: not t._on_an_order()),
             _("%(count)s payout(s) of %(amount)s are on no refund (%(names)s): the cash left the drawer.")),
            (self._cashkeeper_tickets(PAID_STATES).filtered(lambda t: not t._on_an_order()),
             _("%(count)s ticket(s) collected %(amount)s that is on no order (%(names)s): the cash is in the drawer.")),
            (self._cashkeeper_tickets(("anomaly",)),
             _("%(count)s ticket(s) need checking against the CashKeeper's records (%(names)s).")),
        )
        parts = [text % {"count": len(tickets), "names": ", ".join(tickets.mapped("name")),
                         "amount": self.currency_id.format(abs(sum(tickets.mapped("amount"))))}
                 for tickets, text in checks if tickets]
        if not parts:
            return False
        return _("CashKeeper: %s See Point of Sale > Reporting > CashKeeper Reconciliation.", " ".join(parts))

    def get_closing_control_data(self):
        data = super().get_closing_control_data()
        self._cashkeeper_flag_no_order()
        if self.config_id.payment_method_ids.filtered(lambda m: m.use_payment_terminal == "cashkeeper"):
            figures = {key: self.currency_id.format(value) for key, value in self._cashkeeper_figures().items()}
            data["cashkeeper"] = {
                **figures,
                "summary": _("CashKeeper: the drawer collected %(collected)s and paid out %(paid_out)s (declared), "
                             "net %(net)s; the books hold %(booked)s, difference %(difference)s.", **figures),
                "warning": self._cashkeeper_closing_warning(),
            }
        return data

    def _validate_session(self, *args, **kwargs):
        self._cashkeeper_flag_no_order()
        self._cashkeeper_check_books()
        return super()._validate_session(*args, **kwargs)

    def _cashkeeper_check_books(self):
        """The last gate before the books are posted: every CashKeeper payment of the session's
        orders is backed by the paid ticket bound to it, of its amount."""
        payments = self._cashkeeper_booked_payments().filtered(lambda p: not p.currency_id.is_zero(p.amount))
        backed = self.env["pos.cashkeeper.ticket"].sudo().search([
            ("pos_payment_id", "in", payments.ids), ("state", "in", BOUND_STATES)])
        amounts = {t.pos_payment_id: t.amount for t in backed}
        unbacked = payments.filtered(
            lambda p: p not in amounts or p.currency_id.compare_amounts(amounts[p], p.amount))
        if unbacked:
            raise UserError(_(
                "CashKeeper: the books cannot be closed: %s not backed by what the drawer collected. Check them in "
                "Point of Sale > Orders > CashKeeper Tickets.", ", ".join(
                    f"{p.pos_order_id.pos_reference or p.pos_order_id.name} ({p.currency_id.format(p.amount)})"
                    for p in unbacked)))

    def _cashkeeper_flag_no_order(self):
        # At the latest when the register closes, cash on no order is flagged, whatever its age.
        self.env["pos.cashkeeper.ticket"]._flag_no_order([("session_id", "in", self.ids)], grace=timedelta(0))
