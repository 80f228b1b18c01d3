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


def error_to_dict(error):
    """A CKMonitor fault as plain JSON data, for the on-site agent to report it to Odoo."""
    if isinstance(error, CKMonitorTimeout):
        return {"kind": "timeout", "host": error.host, "port": error.port, "seconds": error.seconds}
    if isinstance(error, CKMonitorUnreachable):
        return {"kind": "unreachable", "host": error.host, "port": error.port, "cause": error.cause}
    if isinstance(error, CKFastProtocolError):
        return {"kind": "protocol", "raw": error.raw.decode("latin-1"), "reason": error.reason}
    raise TypeError(f"not a reportable CKMonitor fault: {error!r}")


def error_from_dict(data):
    """The inverse of ``error_to_dict``; refuses anything else (the data comes over the network)."""
    if not isinstance(data, dict):
        raise ValueError("a CKMonitor fault must be an object")

    def text(key, limit=200):
        value = data.get(key)
        if not isinstance(value, str) or len(value) > limit:
            raise ValueError(f"{key} must be text of at most {limit} characters")
        return value

    kind = data.get("kind")
    if kind in ("timeout", "unreachable"):
        port = data.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError("port must be a port number")
        if kind == "unreachable":
            return CKMonitorUnreachable(text("host"), port, text("cause"))
        seconds = data.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds <= 3600:
            raise ValueError("seconds must be a number of seconds")
        return CKMonitorTimeout(text("host"), port, float(seconds))
    if kind == "protocol":
        return CKFastProtocolError(text("raw", 1024).encode("latin-1", "replace"), text("reason"))
    raise ValueError(f"unknown CKMonitor fault kind {kind!r}")
