from odoo import _, api, fields, models


class PosSession(models.Model):
    _inherit = "pos.session"

    cashkeeper_warning = fields.Char(compute="_compute_cashkeeper_warning", string="CashKeeper warning")

    @api.depends("state")
    def _compute_cashkeeper_warning(self):
        for session in self:
            session.cashkeeper_warning = session._cashkeeper_closing_warning()

    def _cashkeeper_closing_warning(self):
        """Said when the register closes: the drawer may still take cash for this session, or took
        some after the cashier gave up. A warning, not a block: the manager decides."""
        self.ensure_one()
        tickets = self.env["pos.cashkeeper.ticket"].sudo().search([
            ("session_id", "=", self.id), ("state", "in", ("new", "queued", "pending", "abandoned",
                                                            "paid_after_abandon", "anomaly")),
        ])
        if not tickets:
            return False
        parts = []
        waiting = tickets.filtered(lambda t: t.state in ("new", "queued", "pending", "abandoned"))
        if waiting:
            parts.append(_("%(count)s ticket(s) may still collect cash at the drawer (%(names)s): cancel them on "
                           "the CashKeeper first.", count=len(waiting), names=", ".join(waiting.mapped("name"))))
        late = tickets.filtered(lambda t: t.state == "paid_after_abandon")
        if late:
            parts.append(_("%(count)s ticket(s) were paid after the cashier cancelled (%(names)s, %(amount)s): "
                           "that cash is in the drawer but on no order.", count=len(late),
                           names=", ".join(late.mapped("name")),
                           amount=self.currency_id.format(sum(late.mapped("amount")))))
        anomalies = tickets.filtered(lambda t: t.state == "anomaly")
        if anomalies:
            parts.append(_("%(count)s ticket(s) need checking against the CashKeeper's records (%(names)s).",
                           count=len(anomalies), names=", ".join(anomalies.mapped("name"))))
        return _("CashKeeper: %s See Point of Sale > Reporting > CashKeeper Reconciliation.", " ".join(parts))

    def get_closing_control_data(self):
        data = super().get_closing_control_data()
        data["cashkeeper_warning"] = self._cashkeeper_closing_warning()
        return data
