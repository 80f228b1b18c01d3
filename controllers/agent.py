"""JSON-RPC endpoints of the on-site agent (cloud mode); the contract is agent/PROTOCOL.md.

Authenticated by the API key of the agent's own user (``auth="bearer"``), which must be in the
"CashKeeper agent" group; every ticket is looked up through that user's record rules, so an
agent never sees or touches the tickets of another agent's payment methods.
"""

from odoo import _, http
from odoo.exceptions import AccessDenied, AccessError, UserError
from odoo.http import request

from ..ckfast.agent_link import AGENT_PROTOCOL, WAKE


class CashKeeperAgentController(http.Controller):
    @http.route("/pos_cashkeeper/agent/poll", type="json", auth="bearer", methods=["POST"], csrf=False)
    def poll(self, version="", ckmonitor=None, bye=False, instance="", protocol=1, **ignored):
        """Heartbeat; answers at once with the open tickets and the agent's bus channel."""
        agent = self._agent()
        if protocol != AGENT_PROTOCOL:
            # An agent of protocol 1 expects Odoo to hold its poll and would poll without pause.
            raise UserError(_("This cashkeeper-agent (%(version)s) is too old for this Odoo: install the agent "
                              "of the same pos_cashkeeper release.", version=version or "?"))
        agent._heartbeat(version, ckmonitor, bye, instance)
        return {
            "agent": agent.name,
            "protocol": AGENT_PROTOCOL,
            "channel": agent._bus_channel(),
            "wake": WAKE,
            "heartbeat": agent._heartbeat_interval(),
            "tickets": agent._open_tickets(),
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
