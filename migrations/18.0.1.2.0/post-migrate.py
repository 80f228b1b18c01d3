"""18.0.1.2.0: a database of any earlier release ends up as a fresh install of this one would.

* Open tickets of the releases before stored requests get their ``C`` line: those releases built
  it from the method's settings on every send, and the same settings give the same bytes, so a
  resend is still the line CKMonitor may have queued.
* Paid tickets are bound to their ``pos.payment`` (earlier releases looked the payment up by its
  line; this one stores it, and flags a paid ticket without one as cash on no order).
* CashKeeper methods book to their journal's own account, as new methods do (an outstanding
  account would wait for a bank statement that never comes).
The live-line index follows the ledger's states in the model's ``init()``.
"""

from odoo import SUPERUSER_ID, api
from odoo.addons.pos_cashkeeper.models.pos_cashkeeper_ticket import OPEN_STATES, PAID_STATES


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {"active_test": False})
    tickets = env["pos.cashkeeper.ticket"]
    for ticket in tickets.search([("request", "=", False), ("state", "in", OPEN_STATES)]):
        ticket.request = ticket.payment_method_id._cashkeeper_create_request(
            ticket.name, ticket.amount, ticket.currency_id)
    for ticket in tickets.search([("pos_payment_id", "=", False), ("state", "in", PAID_STATES)]):
        payment = env["pos.payment"].search([
            ("uuid", "=", ticket.payment_uuid), ("payment_method_id", "=", ticket.payment_method_id.id),
            ("pos_order_id.state", "not in", ("draft", "cancel"))], limit=1)
        if payment and not ticket.currency_id.compare_amounts(payment.amount, ticket.amount) \
                and not tickets.search_count([("pos_payment_id", "=", payment.id)]):
            ticket.write({"pos_payment_id": payment.id, "state": "paid", "on_no_order": False})
    env["pos.payment.method"].search([("use_payment_terminal", "=", "cashkeeper")])._cashkeeper_book_to_journal()
