"""18.0.1.2.0: a database of any earlier release ends up as a fresh install of this one would.
Every step is idempotent (Odoo runs it once per upgrade from an older version, whichever).

* Open tickets of the releases before stored requests get their ``C`` line: those releases built
  it from the method's settings on every send (server and agent alike, with the same encoder),
  so the same settings give the same bytes, and a resend is still the line CKMonitor may hold.
* Paid tickets are bound to their ``pos.payment`` (earlier releases looked the payment up by its
  line; this one stores it, and flags a paid ticket without one as cash on no order): same line,
  method and amount, on an order neither cancelled nor (unless that line is done) a draft, as
  the POS's sync binds them.
* CashKeeper methods book to their journal's own account, as new methods do (an outstanding
  account would wait for a bank statement that never comes).
* The stored computed fields of ours hold what this release computes (some rules changed).
The live-line index follows the ledger's states in the model's ``init()``; Odoo drops the columns
of removed fields (18.0.1.0.0's ``amount_sent``) itself.
"""

import logging

from odoo import SUPERUSER_ID, api
from odoo.addons.pos_cashkeeper.models.cashkeeper_states import OPEN_STATES, PAID_STATES
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)
MODULE = "pos_cashkeeper"


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {"active_test": False})
    tickets = env["pos.cashkeeper.ticket"]
    for ticket in tickets.search([("request", "=", False), ("state", "in", OPEN_STATES),
                                  ("purpose", "!=", "payout")]):
        try:
            ticket.request = ticket.payment_method_id._cashkeeper_create_request(
                ticket.name, ticket.amount, ticket.currency_id)
        except UserError as e:  # the old code could not have sent it either
            _logger.warning("CashKeeper ticket %s: no C line: %s", ticket.name, e)
    for ticket in tickets.search([("pos_payment_id", "=", False), ("state", "in", PAID_STATES)]):
        payment = env["pos.payment"].search([
            ("uuid", "=", ticket.payment_uuid), ("payment_method_id", "=", ticket.payment_method_id.id),
            ("pos_order_id.state", "!=", "cancel")]).filtered(
            lambda p: p.pos_order_id.state != "draft" or p.payment_status == "done")[:1]
        if payment and not ticket.currency_id.compare_amounts(payment.amount, ticket.amount) \
                and not tickets.search_count([("pos_payment_id", "=", payment.id)]):
            ticket.write({"pos_payment_id": payment.id, "state": "paid", "on_no_order": False})
    # pos.payment.method._cashkeeper_book_to_journal's rule, in SQL: Odoo refuses to write a method
    # while one of its sessions is open, and a shop upgrades with its registers open.
    cr.execute("""UPDATE pos_payment_method m SET outstanding_account_id = j.default_account_id
                    FROM account_journal j
                   WHERE j.id = m.journal_id AND j.type = 'bank' AND j.default_account_id IS NOT NULL
                     AND m.use_payment_terminal = 'cashkeeper'
                     AND m.outstanding_account_id IS DISTINCT FROM j.default_account_id""")
    env.invalidate_all()
    for model in env.registry.values():
        stored = [f for f in model._fields.values() if f.store and f.compute and f._module == MODULE]
        if stored and not model._abstract:
            records = env[model._name].search([])
            for field in stored:
                env.add_to_compute(field, records)
    env.flush_all()
