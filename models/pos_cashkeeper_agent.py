"""On-site agents (cloud mode): an Odoo that cannot reach the shop's LAN hands drawer tickets to
a small program next to CKMonitor, which connects out to Odoo (see agent/ and agent/PROTOCOL.md).

Each agent logs in with the API key of its own user, a member of the "CashKeeper agent" group
only: that user sees nothing but its agent record and the tickets of the methods assigned to it.

New work reaches the agent the way Odoo's own IoT box learns of it: a wake-up on Odoo's bus, on
a channel whose name only that agent knows (handed over by its authenticated poll, rotated with
its key). The bus carries no ticket data: woken, the agent polls. Odoo's websocket worker holds
the connections, so an idle agent costs no HTTP worker and no database connection; every agent
request is answered at once.
"""

import logging
import secrets
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..ckfast import CKFastProtocolError, CreateTicket, ReplyKind, TicketConflict, TicketStatus, error_from_dict
from ..ckfast.agent_link import FINAL_STATES, WAKE
from ..ckfast.protocol import check_reply, create_is_ours
from .cashkeeper_states import NEW, OPEN_STATES

_logger = logging.getLogger(__name__)

# Seconds between an idle agent's polls (its heartbeat); an agent silent for longer than that
# plus ONLINE_GRACE is shown offline. Overridable with the system parameter
# pos_cashkeeper.agent_heartbeat.
HEARTBEAT_DEFAULT = 20
ONLINE_GRACE = 10
# A C the agent may still be sending is given this long before CKMonitor's "not found" may fail
# the ticket (the agent's C takes at most connect + reply timeouts, 3 attempts).
CLAIM_GRACE = timedelta(seconds=60)
# The agent stops resending C for a ticket CKMonitor never confirmed after this long; the ticket
# is then watched as abandoned (no POS waits that long for a drawer).
CLAIM_GIVE_UP = timedelta(minutes=10)


class PosCashKeeperAgent(models.Model):
    _name = "pos.cashkeeper.agent"
    _description = "CashKeeper on-site agent"
    _order = "name"

    name = fields.Char(required=True, help="Where the agent runs, e.g. the shop's name.")
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    user_id = fields.Many2one("res.users", string="Agent user", readonly=True, copy=False, ondelete="restrict",
                              help="The user whose API key the agent uses. It can do nothing else.")
    # The secret part of the agent's bus channel: anyone who knows a channel's name can listen to
    # it, so it is random, shown to no one but the agent, and replaced with every key change.
    bus_secret = fields.Char(string="Bus channel secret", readonly=True, copy=False, groups="base.group_system")

    _sql_constraints = [("user_unique", "unique(user_id)", "Each CashKeeper agent has a user of its own.")]
    payment_method_ids = fields.One2many("pos.payment.method", "cashkeeper_agent_id", string="Payment methods")
    last_seen = fields.Datetime(readonly=True, copy=False)
    said_bye = fields.Boolean(readonly=True, copy=False, help="The agent stopped gracefully.")
    bye_instance = fields.Char(readonly=True, copy=False, help="The agent process that said goodbye.")
    version = fields.Char(string="Agent version", readonly=True, copy=False)
    ckmonitor_endpoint = fields.Char(string="CKMonitor", readonly=True, copy=False)
    ckmonitor_reachable = fields.Boolean(string="CKMonitor reachable", readonly=True, copy=False)
    ckmonitor_message = fields.Char(string="CKMonitor state", readonly=True, copy=False)
    status = fields.Selection([("never", "Never connected"), ("online", "Online"), ("offline", "Offline")],
                              compute="_compute_status")
    status_text = fields.Char(string="Agent status", compute="_compute_status")

    @api.depends("last_seen", "said_bye", "version", "ckmonitor_reachable", "ckmonitor_message")
    def _compute_status(self):
        for agent in self:
            agent.status = agent._current_status()
            if agent.status == "never":
                agent.status_text = _("Never connected. Generate an API key and start the agent on the shop PC.")
                continue
            seen = fields.Datetime.to_string(agent.last_seen)
            if agent.status == "online":
                drawer = (_("CKMonitor at %s reachable", agent.ckmonitor_endpoint) if agent.ckmonitor_reachable
                          else _("CKMonitor NOT reachable: %s", agent.ckmonitor_message or "?"))
                agent.status_text = _("Online (agent %(version)s, last contact %(seen)s UTC). %(drawer)s.",
                                      version=agent.version or "?", seen=seen, drawer=drawer)
            else:
                agent.status_text = _("Offline since %s UTC.", seen)

    def _current_status(self):
        if not self.last_seen:
            return "never"
        silent = fields.Datetime.now() - self.last_seen
        if self.said_bye or silent > timedelta(seconds=self._heartbeat_interval() + ONLINE_GRACE):
            return "offline"
        return "online"

    def _offline_message(self):
        """For the cashier, or False when the agent is online."""
        if self._current_status() == "online":
            return False
        return _("The CashKeeper agent of this shop (%s) is offline. Start it on the PC next to the CashKeeper "
                 "(or ask the manager): the payment goes on as soon as it is back.", self.name)

    @api.model
    def _heartbeat_interval(self):
        value = self.env["ir.config_parameter"].sudo().get_param("pos_cashkeeper.agent_heartbeat")
        try:
            return max(0.5, min(float(value), 300.0)) if value else HEARTBEAT_DEFAULT
        except ValueError:
            return HEARTBEAT_DEFAULT

    # -- setup -------------------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        if any("user_id" in vals for vals in vals_list) and not self.env.su:
            raise AccessError(_("The agent's user is created by Odoo, not chosen."))
        agents = super().create(vals_list)
        for agent in agents:
            agent.sudo().user_id = agent._create_agent_user()
        agents._rotate_bus_secret()
        return agents

    def write(self, vals):
        # Its API key is minted for this user: pointing an agent at another user would give
        # that user's rights to whoever holds the key.
        if "user_id" in vals and not self.env.su:
            raise AccessError(_("The agent's user cannot be changed."))
        result = super().write(vals)
        if "active" in vals and not vals["active"]:
            self._revoke_keys()  # an archived agent can do nothing
        if "company_id" in vals:
            for agent in self.sudo():
                agent.user_id.write({"company_ids": [fields.Command.set(agent.company_id.ids)],
                                     "company_id": agent.company_id.id})
        return result

    def unlink(self):
        users = self.sudo().user_id
        self._revoke_keys()
        result = super().unlink()
        users.active = False
        return result

    def _create_agent_user(self):
        # A share user in the agent group only: no backend, no POS, no other data.
        group = self.env.ref("pos_cashkeeper.group_cashkeeper_agent")
        return self.env["res.users"].sudo().with_context(no_reset_password=True).create({
            "name": _("CashKeeper agent: %s", self.name),
            "login": f"cashkeeper-agent-{self.id}-{secrets.token_hex(4)}",
            "company_id": self.company_id.id,
            "company_ids": [fields.Command.set(self.company_id.ids)],
            "groups_id": [fields.Command.set(group.ids)],
        })

    def _check_key_manager(self):
        """Keys are minted with sudo for the agent's own user: only POS managers may, and only
        for a user that is that agent's and nothing else."""
        self.ensure_one()
        if not self.env.user.has_group("point_of_sale.group_pos_manager"):
            raise AccessError(_("Only Point of Sale managers can manage the API keys of CashKeeper agents."))
        self.check_access("write")
        user = self.sudo().user_id
        group = self.env.ref("pos_cashkeeper.group_cashkeeper_agent")
        owners = self.sudo().with_context(active_test=False).search_count([("user_id", "=", user.id)])
        if not user or user.groups_id != group or not user.share or owners != 1:
            raise AccessError(_("The user of agent %s is not a dedicated CashKeeper agent user.", self.name))
        return user

    def _revoke_keys(self):
        for agent in self.sudo():
            self.env["res.users.apikeys"].sudo().search([("user_id", "=", agent.user_id.id)]).unlink()
        self._rotate_bus_secret()

    def _rotate_bus_secret(self):
        """A new channel name: whoever held an old key (or read an old channel name) hears nothing more."""
        for agent in self.sudo():
            agent.bus_secret = secrets.token_urlsafe(32)

    def _bus_channel(self):
        self.ensure_one()
        if not self.sudo().bus_secret:  # never empty after create and the 18.0.1.1.0 migration
            self._rotate_bus_secret()
        return f"pos_cashkeeper.agent.{self.sudo().bus_secret}"

    def action_generate_api_key(self):
        """Create an API key for the agent's user and show it once (Odoo keeps only a hash)."""
        user = self._check_key_manager()
        if not self.active or not user.active:
            raise UserError(_("The agent or its user is archived: unarchive it first."))
        self._rotate_bus_secret()  # the new key's agent learns the new channel with its first poll
        # sudo: a persistent key for another user; the key grants that user's rights only.
        key = self.env["res.users.apikeys"].with_user(user).sudo()._generate(
            None, _("CashKeeper agent %s", self.name), None)
        return {
            "type": "ir.actions.act_window",
            "res_model": "res.users.apikeys.show",
            "name": _("API key of agent %s: copy it into the agent's configuration now", self.name),
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_key": key},
        }

    def action_revoke_api_keys(self):
        self._check_key_manager()
        self._revoke_keys()
        return True

    # -- agent calls (the controller has authenticated the agent's user) ---------------------
    def _heartbeat(self, version, ckmonitor, bye, instance=""):
        """Record the agent's poll. ``instance`` names the agent process: a poll it sent before
        saying goodbye, and that arrives after, does not show it online again."""
        instance = _text(instance, 64)
        if not bye and instance and instance == self.bye_instance:
            return
        ckmonitor = ckmonitor if isinstance(ckmonitor, dict) else {}
        values = {
            "last_seen": fields.Datetime.now(),
            "said_bye": bool(bye),
            "bye_instance": instance if bye else False,
            "version": _text(version, 32),
            "ckmonitor_endpoint": _text(ckmonitor.get("endpoint"), 100),
            "ckmonitor_reachable": ckmonitor.get("reachable") is True,
            "ckmonitor_message": _text(ckmonitor.get("message"), 300),
        }
        if self.status != "online" or bye:
            _logger.info("CashKeeper agent %s %s (version %s)", self.name, "stopped" if bye else "connected",
                         values["version"])
        self.sudo().write(values)

    def _open_tickets(self):
        """Tickets of this agent's methods in which the drawer may still take cash. SQL: read on
        every poll."""
        self.env.cr.execute(
            """SELECT t.name, t.state, COALESCE(t.attempts, 0) FROM pos_cashkeeper_ticket t
                 JOIN pos_payment_method m ON m.id = t.payment_method_id
                WHERE m.cashkeeper_agent_id = %s AND t.state IN %s
                ORDER BY t.state = 'new' DESC, t.id DESC LIMIT 500""",  # new work first, newest first
            [self.id, OPEN_STATES],
        )
        return [{"ticket": name, "state": state, "attempts": attempts}
                for name, state, attempts in self.env.cr.fetchall()]

    # -- the agent's exchanges (the controller checked the ticket is this agent's) -------------
    def _claim(self, ticket):
        """The agent is about to send C for ``ticket``: count the attempt first, as the server does
        before it sends (``ticket._count_attempt``), and hand over the stored request."""
        if ticket.state == NEW and ticket.attempts and fields.Datetime.now() - ticket.create_date > CLAIM_GIVE_UP:
            # Resent for long enough: stop. Watched as abandoned, since an earlier C may have
            # reached CKMonitor unanswered; "not found" then fails it, a late payment is flagged.
            with ticket._announcing(from_agent=True):
                ticket._set_state("abandoned", abandoned_at=fields.Datetime.now(), last_error=_(
                    "CKMonitor did not confirm this ticket in %s minutes: no longer sent.",
                    int(CLAIM_GIVE_UP.total_seconds() // 60)))
        if ticket.state != NEW:
            return {"ticket": ticket.name, "claimed": False, "state": ticket.state}
        attempt = ticket._count_attempt(claimed_at=fields.Datetime.now())
        return {"ticket": ticket.name, "claimed": True, "state": ticket.state, "attempt": attempt,
                "request": ticket.request}

    def _report(self, ticket, command, reply=None, error=None, attempt=None, ours=False):
        """What CKMonitor answered the agent's C or S for ``ticket``, applied with the ledger's
        rules, and announced to the POS (not to the agent: the change is its own report).
        Idempotent: a report about a ticket that has moved on (a repeat, a late duplicate) changes
        nothing."""
        if command not in ("C", "S") or (reply is None) == (error is None):
            raise UserError(_("Invalid agent report."))
        if command == "C" and not (
            isinstance(attempt, int) and not isinstance(attempt, bool) and 0 < attempt <= ticket.attempts
        ):
            raise UserError(_("Ticket %s was not claimed for that attempt.", ticket.name))
        if command == "S" and not ticket.claimed_at:
            raise UserError(_("Ticket %s was never claimed by an agent: no status report is taken for it.",
                              ticket.name))
        moved_on = ticket.state not in OPEN_STATES and not (command == "C" and ticket.state == "failed")
        if moved_on or (command == "C" and ticket.queued_at):  # CKMonitor's answer to C is known already
            return self._ticket_answer(ticket)
        with ticket._announcing(from_agent=True):
            self._apply_report(ticket, command, reply, error, attempt, ours)
        return self._ticket_answer(ticket)

    def _apply_report(self, ticket, command, reply, error, attempt, ours):
        if error is not None:
            try:
                ticket._note_error(error_from_dict(error))
            except ValueError as e:
                raise UserError(_("Invalid agent report: %s", e)) from None
            return
        if not isinstance(reply, str) or len(reply) > 1024:
            raise UserError(_("Invalid agent report."))
        try:
            parsed = check_reply(reply.encode("latin-1", "replace"), CreateTicket if command == "C" else TicketStatus)
        except CKFastProtocolError as e:
            ticket._note_error(e)
            return
        if command == "S":
            if parsed.kind is ReplyKind.NOT_FOUND and not ticket.queued_at \
                    and fields.Datetime.now() - ticket.claimed_at < CLAIM_GRACE:
                return  # its C may still be on the way: "not found" proves nothing yet
            # A ticket its cashier abandoned is watched, not followed: like the cron's ask.
            ticket._apply_status(parsed, watching=ticket.state == "abandoned")
        elif create_is_ours(parsed, ours is True or attempt > 1 or ticket.attempts > attempt):
            ticket._apply_create(parsed)  # "already exists" after an attempt of ours: queued
        else:
            ticket._apply_create(parsed, conflict=TicketConflict(ticket.name, parsed))

    def _ticket_answer(self, ticket):
        return {"ticket": ticket.name, "state": ticket.state, "final": ticket.state in FINAL_STATES}

    def _wake(self):
        """Wake these agents when the current transaction commits: an empty message on each one's
        channel (the bus is public to whoever knows a name: nothing else goes over it)."""
        for agent in self.sudo():
            self.env["bus.bus"]._sendone(agent._bus_channel(), WAKE, {})


def _text(value, limit):
    return "".join(c for c in value if c.isprintable())[:limit] if isinstance(value, str) else ""

