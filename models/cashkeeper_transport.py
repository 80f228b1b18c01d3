"""How a payment method's tickets reach the drawer: the one seam between direct and agent mode.

The ledger's rules (pos_cashkeeper_ticket.py) never ask which mode a method is in: they ask its
transport, which ``pos.payment.method._cashkeeper_transport()`` chooses, in that one place.
* ``DirectTransport``: this Odoo server talks CKFast to CKMonitor (on-premise), during the request.
* ``AgentTransport``: the shop's on-site agent makes the exchanges and reports them (cloud mode);
  Odoo records the work and wakes the agent. The agent's side: pos_cashkeeper_agent.py.
"""

from odoo import _

from ..ckfast import CKFastClient, CKFastError, CKMonitorUnreachable


class DirectTransport:
    sends_now = True  # a request that records a ticket also sends its C

    def __init__(self, method):
        self.method = method.sudo()  # the drawer's address is for managers only

    def offline_message(self):
        return False

    def hand_over(self, ticket):
        """A ticket was recorded or changed state: nothing to wake, this server sends itself."""

    def progress(self, ticket):
        """Move an open ticket forward by one CKMonitor exchange."""
        if ticket.state == "new":
            ticket._send_create(self)
        elif ticket.state in ("queued", "pending", "abandoned"):
            self.look(ticket)

    def look(self, ticket, watching=False):
        """Ask CKMonitor about a ticket (S), never (re)send it."""
        ticket._ask_ckmonitor(self, watching)

    def client(self, retries=2):
        """``retries``: 0 for S (the POS or the cron asks again shortly: a poll must not hang on a
        dead drawer), 2 for C (resent with the same line)."""
        method = self.method
        if method.use_payment_terminal != "cashkeeper" or not (method.cashkeeper_host or "").strip():
            raise CKMonitorUnreachable(method.cashkeeper_host or "?", method.cashkeeper_port,
                                       "the payment method is no longer set up for CashKeeper")
        return CKFastClient(method.cashkeeper_host.strip(), method.cashkeeper_port, retries=retries,
                            connect_timeout=method.cashkeeper_connect_timeout,
                            read_timeout=method.cashkeeper_read_timeout)

    def connection_report(self, started):
        """(notification type, title, message) for the method's Test connection button."""
        try:
            reply = self.client(retries=0).ping()
        except CKFastError as e:
            return "danger", _("CashKeeper not reachable"), self.method._cashkeeper_error_message(e)
        return "success", _("CashKeeper reachable"), _(
            "CKMonitor at %(endpoint)s answered CKFast in %(ms)d ms (%(reply)s).",
            endpoint=self.method._cashkeeper_endpoint(), ms=started(), reply=reply.raw.decode("ascii").strip())


class AgentTransport:
    sends_now = False  # the agent claims new tickets and sends their C

    def __init__(self, method, agent):
        self.method, self.agent = method.sudo(), agent

    def offline_message(self):
        return self.agent._offline_message()

    def hand_over(self, ticket):
        self.agent._notify(self.agent.ids)  # its poll answers with the new work or state

    def progress(self, ticket):
        """The agent makes the exchanges and reports them."""

    def look(self, ticket, watching=False):
        """The agent watches its open tickets itself (and Odoo cannot reach that drawer)."""

    def connection_report(self, started):
        ok = self.agent.status == "online" and self.agent.ckmonitor_reachable
        title = _("CashKeeper reachable through agent %s", self.agent.name) if ok else _("CashKeeper not reachable")
        return ("success" if ok else "danger"), title, self.agent.status_text
