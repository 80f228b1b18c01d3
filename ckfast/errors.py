"""Exceptions of the CKFast package. Messages are written for the person who must act on them."""


class CKFastError(Exception):
    """Base class: anything that went wrong talking CKFast."""


class CKFastFieldError(CKFastError, ValueError):
    """A request field is not acceptable; nothing was sent."""

    def __init__(self, field, reason):
        self.field = field
        self.reason = reason
        super().__init__(f"Invalid CKFast field {field}: {reason}")


class CKFastProtocolError(CKFastError):
    """CKMonitor answered something we do not understand. ``raw`` keeps the bytes for the log."""

    def __init__(self, raw, reason="unrecognised reply"):
        self.raw = bytes(raw)
        self.reason = reason
        super().__init__(f"CKMonitor answered something we do not understand ({reason}): {self.raw!r}")

    @property
    def printable(self):
        """The raw reply as safe one-line text (control and non-ASCII bytes shown as '?')."""
        return "".join(chr(b) if 0x20 <= b < 0x7F else "?" for b in self.raw.rstrip(b"\r\n"))[:100]


class CKMonitorUnreachable(CKFastError):
    """No connection could be made or kept (refused, reset, closed without a reply)."""

    def __init__(self, host, port, cause):
        self.host, self.port, self.cause = host, port, cause
        super().__init__(
            f"Cannot reach CKMonitor at {host}:{port} ({cause}): check it is running "
            f"and the firewall allows the port"
        )


class CKMonitorTimeout(CKFastError):
    """CKMonitor accepted the connection but did not answer in time."""

    def __init__(self, host, port, seconds):
        self.host, self.port, self.seconds = host, port, seconds
        super().__init__(f"CKMonitor at {host}:{port} did not answer in {seconds:g} s")


class TicketConflict(CKFastError):
    """CKMonitor refused a ticket id: invalid, or already used by someone else."""

    def __init__(self, ticket_id, reply):
        self.ticket_id, self.reply = ticket_id, reply
        super().__init__(f"CKMonitor refused ticket id {ticket_id!r}: {reply.raw.decode('ascii').strip()}")
