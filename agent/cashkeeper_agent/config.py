"""The agent's settings: an INI file, overridden by CK_AGENT_* environment variables, overridden
by command-line flags. ``load_config`` validates everything and raises ``ConfigError`` with a
message for the person installing the agent; the API key never appears in any message or repr.
"""

import configparser
import os
import urllib.parse
from dataclasses import dataclass, field, make_dataclass

CONFIG_ENV = "CK_AGENT_CONFIG"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigError(Exception):
    """The configuration cannot work; the message says what to fix."""


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    env: str
    kind: type  # str, bool, int or float
    default: object


# Every setting, its INI place, its environment variable and its default.
SETTINGS = (
    Setting("odoo", "url", "CK_AGENT_ODOO_URL", str, ""),
    Setting("odoo", "database", "CK_AGENT_DATABASE", str, ""),
    Setting("odoo", "api_key", "CK_AGENT_API_KEY", str, ""),
    Setting("odoo", "verify_tls", "CK_AGENT_VERIFY_TLS", bool, True),
    Setting("odoo", "ca_file", "CK_AGENT_CA_FILE", str, ""),
    Setting("ckmonitor", "host", "CK_AGENT_CKMONITOR_HOST", str, "127.0.0.1"),
    Setting("ckmonitor", "port", "CK_AGENT_CKMONITOR_PORT", int, 16501),
    Setting("ckmonitor", "connect_timeout", "CK_AGENT_CKMONITOR_CONNECT_TIMEOUT", float, 3.0),
    Setting("ckmonitor", "read_timeout", "CK_AGENT_CKMONITOR_READ_TIMEOUT", float, 5.0),
    Setting("agent", "poll_wait", "CK_AGENT_POLL_WAIT", float, 25.0),
    Setting("agent", "fallback_interval", "CK_AGENT_FALLBACK_INTERVAL", float, 2.0),
    Setting("agent", "status_interval", "CK_AGENT_STATUS_INTERVAL", float, 0.25),
    Setting("agent", "fixed_interval", "CK_AGENT_FIXED_INTERVAL", float, 0.0),
    Setting("agent", "log_level", "CK_AGENT_LOG_LEVEL", str, "INFO"),
    Setting("agent", "log_file", "CK_AGENT_LOG_FILE", str, ""),
)


def _name(setting):
    """The Config attribute of a setting (``odoo.url`` -> ``odoo_url``, ``agent.poll_wait`` -> ``poll_wait``)."""
    return setting.key if setting.section == "agent" else f"{setting.section}_{setting.key}"


# Config's attributes are the settings' _name()s (the API key kept out of its repr), then the INI
# file read, if any, and what is worth a WARNING once logging is set up (plain http, TLS off...).
_Fields = make_dataclass("_Fields", [(_name(s), s.kind, field(repr=s.key != "api_key")) for s in SETTINGS]
                         + [("source", str, field(default="")), ("warnings", tuple, field(default=()))], frozen=True)


class Config(_Fields):
    @property
    def ckmonitor_endpoint(self):
        return f"{self.ckmonitor_host}:{self.ckmonitor_port}"


def _convert(setting, raw, origin):
    text = raw.strip()
    if setting.kind is str:
        return text
    if setting.kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ConfigError(f"{origin}: {text!r} is not true or false")
    try:
        return setting.kind(text)
    except ValueError:
        kind = "a whole number" if setting.kind is int else "a number"
        raise ConfigError(f"{origin}: {text!r} is not {kind}") from None


def read_ini(path):
    """Return ({(section, key): raw text}, [warnings]) from an INI file; ConfigError if unreadable."""
    parser = configparser.ConfigParser(interpolation=None)  # an API key may contain '%'
    try:
        with open(path, encoding="utf-8-sig") as handle:  # utf-8-sig: Windows Notepad writes a BOM
            parser.read_file(handle)
    except OSError as e:
        raise ConfigError(f"cannot read the configuration file {path}: {e.strerror or e}") from None
    except configparser.Error as e:
        raise ConfigError(f"the configuration file {path} is not a valid INI file: {e}") from None
    known = {(s.section, s.key) for s in SETTINGS}
    sections = {s.section for s in SETTINGS}
    values, warnings = {}, []
    for section in parser.sections():
        if section not in sections:
            warnings.append(f"{path}: unknown section [{section}] ignored")
            continue
        for key, raw in parser.items(section):
            if (section, key) in known:
                values[section, key] = raw
            else:
                warnings.append(f"{path}: unknown setting {key!r} in [{section}] ignored")
    return values, warnings


def load_config(path=None, environ=None, overrides=None):
    """Build the validated ``Config``.

    ``path``: the INI file (``--config``), else ``$CK_AGENT_CONFIG``, else none (environment
    only). ``overrides``: {attribute name: value} from the command line, None meaning unset.
    """
    environ = os.environ if environ is None else environ
    path = path or environ.get(CONFIG_ENV) or ""
    ini, warnings = read_ini(path) if path else ({}, [])
    values = {}
    for setting in SETTINGS:
        name = _name(setting)
        value = setting.default
        if (setting.section, setting.key) in ini:
            origin = f"{path}: [{setting.section}] {setting.key}"
            value = _convert(setting, ini[setting.section, setting.key], origin)
        if environ.get(setting.env, "").strip():
            value = _convert(setting, environ[setting.env], setting.env)
        override = (overrides or {}).get(name)
        if override is not None:
            value = _convert(setting, str(override), f"--{name.replace('_', '-')}")
        values[name] = value
    return _validate(values, path, warnings)


def _validate(values, path, warnings):
    warnings = list(warnings)
    where = f" (in {path}, or {{env}})" if path else " ({env})"
    url = values["odoo_url"].rstrip("/")
    if not url:
        raise ConfigError("the Odoo URL is missing: set [odoo] url" + where.format(env="CK_AGENT_ODOO_URL"))
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"the Odoo URL {url!r} must look like https://mycompany.odoo.com")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"the Odoo URL {url!r} must not hold a query, fragment or credentials")
    if parts.scheme == "http":
        local = parts.hostname in LOOPBACK_HOSTS
        warnings.append(
            f"the Odoo URL {url} is plain http: the API key travels in clear"
            + (" (acceptable only because Odoo runs on this machine)" if local else "; use https")
        )
    values["odoo_url"] = url
    if not values["odoo_api_key"]:
        raise ConfigError(
            "the API key is missing: set [odoo] api_key" + where.format(env="CK_AGENT_API_KEY")
            + "; generate it in Odoo on the agent's form"
        )
    if any(c.isspace() or not c.isprintable() for c in values["odoo_api_key"]):
        raise ConfigError("the API key holds spaces or control characters: paste it again")
    ca_file = values["odoo_ca_file"]
    if ca_file and not os.path.isfile(ca_file):
        raise ConfigError(f"the CA file {ca_file} does not exist")
    if not values["odoo_verify_tls"] and parts.scheme == "https":
        warnings.append(
            "TLS certificate verification is OFF (verify_tls = false): anyone between this PC and "
            "Odoo can read the API key and fake Odoo's answers. Use ca_file for a private CA instead."
        )
    if not values["ckmonitor_host"]:
        raise ConfigError("the CKMonitor host is empty: set [ckmonitor] host (default 127.0.0.1)")
    if not 1 <= values["ckmonitor_port"] <= 65535:
        raise ConfigError(f"the CKMonitor port {values['ckmonitor_port']} is not between 1 and 65535")
    for name, low, high in (
        ("ckmonitor_connect_timeout", 0.01, 120),
        ("ckmonitor_read_timeout", 0.01, 120),
        ("poll_wait", 0.1, 300),
        ("fallback_interval", 0.01, 60),
        ("status_interval", 0.01, 60),
    ):
        if not low <= values[name] <= high:
            raise ConfigError(f"{name} = {values[name]:g} must be between {low:g} and {high:g} seconds")
    if not 0 <= values["fixed_interval"] <= 3600:
        raise ConfigError(f"fixed_interval = {values['fixed_interval']:g} must be 0 (off) to 3600 seconds")
    if values["fixed_interval"]:
        warnings.append(
            f"fixed_interval = {values['fixed_interval']:g} s: benchmark baseline mode (polls every "
            f"{values['fixed_interval']:g} s instead of listening to Odoo's bus); do not use it in a shop"
        )
    level = values["log_level"].upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"log_level {values['log_level']!r} must be one of {', '.join(LOG_LEVELS)}")
    values["log_level"] = level
    return Config(**values, source=path, warnings=tuple(warnings))
