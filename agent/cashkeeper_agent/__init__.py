"""CashKeeper agent: connects a shop's CKMonitor to a cloud-hosted Odoo (pos_cashkeeper cloud mode).

Outbound only: learns of new drawer tickets from Odoo (its bus websocket, polls), sends them to
CKMonitor with ``ckfast``, and reports CKMonitor's answers back. The contract with Odoo is agent/PROTOCOL.md.
"""

__version__ = "18.0.1.1.0"
