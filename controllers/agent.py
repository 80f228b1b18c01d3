"""JSON-RPC endpoints of the on-site agent (cloud mode); the contract is agent/PROTOCOL.md.

Authenticated by the API key of the agent's own user (``auth="bearer"``), which must be in the
"CashKeeper agent" group; every ticket is looked up through that user's record rules, so an
agent never sees or touches the tickets of another agent's payment methods.
"""

from odoo import _, http
from odoo.exceptions import AccessDenied, AccessError, UserError
from odoo.http import request

from ..models.pos_cashkeeper_agent import STATUS_INTERVAL_MS


class CashKeeperAgentController(http.Controller):
    @http.route("/pos_cashkeeper/agent/poll", type="json", auth="bearer", methods=["POST"], csrf=False)
    def poll(self, version="", known=None, ckmonitor=None, wait=0, bye=False, instance="", **ignored):
        """Heartbeat; answers with the open tickets once they differ from ``known``, or after
        at most ``wait`` seconds (bounded by the server's own limit)."""
        agent = self._agent()
        agent._heartbeat(version, ckmonitor, bye, instance)
        known = known if isinstance(known, dict) else {}
        max_wait = agent._poll_wait()
        seconds = 0 if bye or not isinstance(wait, int | float) else max(0.0, min(float(wait), max_wait))
        return {
            "agent": agent.name,
            "wait": max_wait,
            "status_interval_ms": STATUS_INTERVAL_MS,
            "tickets": agent._wait_for_change(known, seconds),
        }

    @http.route("/pos_cashkeeper/agent/claim", type="json", auth="bearer", methods=["POST"], csrf=False)
    def claim(self, ticket=None, **ignored):
        """The agent is about to send C for ``ticket``: count the attempt, give it the stored request."""
        return self._agent()._claim(self._ticket(ticket))

    @http.route("/pos_cashkeeper/agent/report", type="json", auth="bearer", methods=["POST"], csrf=False)
    def report(self, ticket=None, command=None, reply=None, error=None, attempt=None, ours=False, **ignored):
        """What CKMonitor answered the agent's C or S for ``ticket``."""
        return self._agent()._report(self._ticket(ticket), command, reply=reply, error=error, attempt=attempt,
                                     ours=ours)

    # -- access ------------------------------------------------------------------------------
    def _agent(self):
        env = request.env
        if not env.user.has_group("pos_cashkeeper.group_cashkeeper_agent"):
            raise AccessDenied(_("This API key is not a CashKeeper agent's."))
        agent = env["pos.cashkeeper.agent"].search([("user_id", "=", env.uid)], limit=1)
        if not agent:
            raise AccessDenied(_("This CashKeeper agent is archived or was deleted in Odoo."))
        return agent

    def _ticket(self, name):
        """The ticket ``name`` as this agent may see it (call ``_agent()`` first)."""
        if not isinstance(name, str) or not (name.isascii() and name.isalnum()) or len(name) > 20:
            raise UserError(_("Invalid ticket reference."))
        # As the agent's user: its record rules decide which tickets exist for it.
        ticket = request.env["pos.cashkeeper.ticket"].search([("name", "=", name)], limit=1)
        if not ticket:
            raise AccessError(_("Ticket %s is not one of this agent's.", name))
        return ticket.sudo()  # the ledger's own writes (tracking, chatter) need more than the agent has
