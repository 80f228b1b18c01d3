"""18.0.1.1.0: every agent gets its secret bus channel now, rather than on first use (where a
POS start and the agent's poll could both make one)."""

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    agents = env["pos.cashkeeper.agent"].with_context(active_test=False)
    agents.search([("bus_secret", "=", False)])._rotate_bus_secret()
