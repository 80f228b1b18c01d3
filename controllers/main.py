"""JSON-RPC endpoints the POS calls to take a payment through the CashKeeper drawer.

The browser sends ids, uuids and the amount only; the drawer's address and CKFast fields come
from the payment method on the server. Each call checks that the user is a POS user with an
open session of a config that uses that CashKeeper method, in one of the user's companies, and
that a ticket is touched only for the order it was started for. A missing or malformed parameter
is a plain error message, never a traceback.
"""

import re

from odoo import _, http
from odoo.exceptions import AccessError, UserError
from odoo.http import request

UUID = re.compile(r"[A-Za-z0-9-]{1,64}")  # fullmatch: "abc\n" is refused


class CashKeeperController(http.Controller):
    @http.route("/pos_cashkeeper/payment/start", type="json", auth="user", methods=["POST"])
    def start(self, payment_method_id=None, session_id=None, payment_uuid=None, amount=None, order_uuid="",
              order_ref="", **ignored):
        """Start (or resume) the drawer payment of a payment line; returns the ticket state."""
        method, session = self._checked_method_and_session(payment_method_id, session_id)
        self._check_line(payment_uuid)
        _check_uuid(order_uuid, _("order"))  # a ticket belongs to the order it was started for
        tickets = request.env["pos.cashkeeper.ticket"].sudo()
        return tickets._cashkeeper_start(method.sudo(), session.sudo(), payment_uuid, amount,
                                         order_uuid=order_uuid, order_ref=_clean_ref(order_ref))

    @http.route("/pos_cashkeeper/payment/payout", type="json", auth="user", methods=["POST"])
    def payout(self, payment_method_id=None, session_id=None, payment_uuid=None, amount=None, order_uuid="",
               order_ref="", refunded_order_ids=(), confirmed=False, **ignored):
        """A refund line (negative amount): the rules and what to do before the cashier pays it out
        at the drawer, then (``confirmed``) the payout entry; status and abandon follow it."""
        method, session = self._checked_method_and_session(payment_method_id, session_id)
        self._check_line(payment_uuid)
        _check_uuid(order_uuid, _("order"))
        if not isinstance(refunded_order_ids, list | tuple) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in refunded_order_ids):
            raise UserError(_("Invalid CashKeeper payment request: refunded_order_ids must be record ids."))
        refunded = request.env["pos.order"].sudo().browse(refunded_order_ids).exists().filtered(
            lambda o: o.company_id == session.company_id)
        tickets = request.env["pos.cashkeeper.ticket"].sudo()
        return tickets._cashkeeper_payout(method.sudo(), session.sudo(), payment_uuid, amount, order_uuid=order_uuid,
                                          order_ref=_clean_ref(order_ref), refunded_orders=refunded,
                                          confirmed=confirmed is True)

    @http.route("/pos_cashkeeper/payment/status", type="json", auth="user", methods=["POST"])
    def status(self, payment_method_id=None, session_id=None, payment_uuid=None, order_uuid="", **ignored):
        """Ask CKMonitor once about the line's ticket and return its state."""
        method, session = self._checked_method_and_session(payment_method_id, session_id)
        ticket = self._line_ticket(method, session, payment_uuid, order_uuid)
        if not ticket:
            raise AccessError(_("No CashKeeper payment was started for this payment line in this session."))
        return ticket._advance()

    @http.route("/pos_cashkeeper/payment/abandon", type="json", auth="user", methods=["POST"])
    def abandon(self, payment_method_id=None, session_id=None, payment_uuid=None, order_uuid="", **ignored):
        """The cashier gives up or removes the line: paid tickets complete it, pending ones are
        abandoned (and watched). A line that never started a ticket has nothing to cancel."""
        method, session = self._checked_method_and_session(payment_method_id, session_id)
        ticket = self._line_ticket(method, session, payment_uuid, order_uuid)
        if not ticket:
            return {"ticket": False, "state": "none", "final": True, "message": False, "attempts": 0, "amount": 0}
        return ticket._cashkeeper_abandon()

    # -- access ------------------------------------------------------------------------------
    def _checked_method_and_session(self, payment_method_id, session_id):
        env = request.env
        if not env.user.has_group("point_of_sale.group_pos_user"):
            raise AccessError(_("Only Point of Sale users can take CashKeeper payments."))
        for name, value in (("payment_method_id", payment_method_id), ("session_id", session_id)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise UserError(_("Invalid CashKeeper payment request: %s must be a record id.", name))
        # One query instead of ORM reads: this runs on every poll (profiled by the benchmark). The
        # company test is the pos.session multi-company rule (config's company in the user's).
        env.cr.execute(
            """SELECT s.state, s.name,
                      EXISTS (SELECT 1 FROM res_company_users_rel cu
                               WHERE cu.cid = c.company_id AND cu.user_id = %(user)s),
                      m.use_payment_terminal, r.pos_payment_method_id
                 FROM pos_session s
                 JOIN pos_config c ON c.id = s.config_id
                 LEFT JOIN pos_payment_method m ON m.id = %(method)s
                 LEFT JOIN pos_config_pos_payment_method_rel r
                        ON r.pos_config_id = c.id AND r.pos_payment_method_id = %(method)s
                WHERE s.id = %(session)s""",
            {"session": session_id, "method": payment_method_id, "user": env.uid},
        )
        row = env.cr.fetchone()
        if not row or not row[2]:
            raise AccessError(_("This POS session does not exist or belongs to another company."))
        state, name, _in_company, terminal, linked = row
        if state != "opened":
            raise AccessError(_("The POS session %s is not open: reopen the register to take payments.", name))
        if terminal != "cashkeeper" or not linked:
            raise AccessError(_("This point of sale has no such CashKeeper payment method."))
        return env["pos.payment.method"].browse(payment_method_id), env["pos.session"].browse(session_id)

    def _check_line(self, payment_uuid):
        _check_uuid(payment_uuid, _("payment line"))

    def _line_ticket(self, method, session, payment_uuid, order_uuid):
        self._check_line(payment_uuid)
        # The line's latest ticket, if it belongs to this session and method (another session's
        # line is none of this caller's business). SQL: this runs on every poll.
        request.env.cr.execute(
            """SELECT id FROM pos_cashkeeper_ticket WHERE payment_uuid = %s AND session_id = %s
                  AND payment_method_id = %s ORDER BY id DESC LIMIT 1""",
            [payment_uuid, session.id, method.id],
        )
        row = request.env.cr.fetchone()
        ticket = request.env["pos.cashkeeper.ticket"].sudo().browse(row[0] if row else [])
        if ticket and order_uuid != ticket.order_uuid:
            raise AccessError(_("This CashKeeper payment was started for another order."))
        return ticket


def _clean_ref(order_ref):
    # Stored for the ledger only (never sent to CKMonitor): keep it printable and short.
    return "".join(c for c in order_ref if c.isprintable())[:64] if isinstance(order_ref, str) else ""


def _check_uuid(value, what):
    if not isinstance(value, str) or not UUID.fullmatch(value):
        raise UserError(_("Invalid %s reference.", what))
