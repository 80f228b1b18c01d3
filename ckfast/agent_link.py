"""What Odoo and the on-site agent both say (agent/PROTOCOL.md), written once: the addon and the
agent import it from here."""

# The agent protocol's version: Odoo tells an agent speaking another one to upgrade.
AGENT_PROTOCOL = 2
# The bus notification type of a wake-up (its payload is always empty).
WAKE = "pos_cashkeeper.wake"
# The state of a ticket whose C CKMonitor has not confirmed: the agent claims and sends it.
NEW = "new"
# Ticket states after which CKMonitor has nothing more to say about a ticket (the agent stops
# asking; the POS stops following).
FINAL_STATES = ("paid", "cancelled", "failed", "paid_after_abandon", "anomaly")
