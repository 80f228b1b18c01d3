"""Configuration: INI file, environment overrides, command-line overrides, validation, CLI."""

import logging
import re

import pytest
from conftest import AGENT_DIR

import cashkeeper_agent
from cashkeeper_agent.config import SETTINGS, ConfigError, load_config
from cashkeeper_agent.main import RedactKey, main

KEY = "0123456789abcdef0123456789abcdef01234567"
MINIMAL = {"CK_AGENT_ODOO_URL": "https://shop.example.com", "CK_AGENT_API_KEY": KEY}


def write(tmp_path, text, name="agent.ini", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return str(path)


def test_the_environment_alone_is_enough():
    # No file: Odoo's address and the key are all an agent on the CKMonitor's own PC needs.
    config = load_config(environ=MINIMAL)
    assert (config.odoo_url, config.odoo_api_key, config.source, config.warnings) == (
        "https://shop.example.com", KEY, "", ())
    assert config.ckmonitor_endpoint == "127.0.0.1:16501"


def test_every_key_from_the_ini_file(tmp_path):
    ca = write(tmp_path, "not really a CA", name="ca.pem")
    path = write(tmp_path, f"""
[odoo]
url = https://shop.example.com/
database = shop
api_key = {KEY}%with-percent
verify_tls = yes
ca_file = {ca}

[ckmonitor]
host = 192.168.1.20
port = 16600
connect_timeout = 1.5
read_timeout = 4

[agent]
poll_wait = 20
status_interval = 0.5
fixed_interval = 0
log_level = debug
log_file = {tmp_path / "agent.log"}
""")
    config = load_config(path, environ={})
    assert config.odoo_url == "https://shop.example.com"  # trailing slash dropped
    assert config.odoo_database == "shop"
    assert config.odoo_api_key == KEY + "%with-percent"  # no interpolation
    assert (config.odoo_verify_tls, config.odoo_ca_file) == (True, ca)
    assert (config.ckmonitor_host, config.ckmonitor_port) == ("192.168.1.20", 16600)
    assert (config.ckmonitor_connect_timeout, config.ckmonitor_read_timeout) == (1.5, 4.0)
    assert (config.poll_wait, config.status_interval, config.fixed_interval) == (20.0, 0.5, 0.0)
    assert config.log_level == "DEBUG"
    assert config.source == path
    assert config.warnings == ()


def test_example_file_is_valid_and_documents_every_setting(tmp_path):
    text = (AGENT_DIR / "cashkeeper-agent.example.ini").read_text()
    text = text.replace("PASTE-THE-API-KEY-HERE", KEY)
    config = load_config(write(tmp_path, text), environ={})
    assert config.odoo_url.startswith("https://")
    assert config.warnings == ()
    readme = (AGENT_DIR / "README.md").read_text()
    for setting in SETTINGS:
        assert re.search(rf"^#?\s*{setting.key}\s*=", text, re.M), setting.key
        assert setting.env in readme, setting.env


def test_windows_notepad_bom_is_accepted(tmp_path):
    path = write(tmp_path, f"[odoo]\nurl = https://shop.example.com\napi_key = {KEY}\n", encoding="utf-8-sig")
    assert load_config(path, environ={}).odoo_api_key == KEY


def test_environment_overrides_the_file_and_flags_override_both(tmp_path):
    path = write(tmp_path, f"[odoo]\nurl = https://file.example.com\napi_key = {KEY}\n[ckmonitor]\nport = 1000\n"
                           "[agent]\npoll_wait = 10\n")
    environ = {"CK_AGENT_ODOO_URL": "https://env.example.com", "CK_AGENT_CKMONITOR_PORT": "2000",
               "CK_AGENT_VERIFY_TLS": "false", "CK_AGENT_LOG_LEVEL": "warning"}
    config = load_config(path, environ=environ)
    assert (config.odoo_url, config.ckmonitor_port, config.poll_wait) == ("https://env.example.com", 2000, 10.0)
    assert config.odoo_verify_tls is False
    assert config.log_level == "WARNING"
    config = load_config(path, environ=environ, overrides={"ckmonitor_port": 3000, "odoo_url": None})
    assert (config.odoo_url, config.ckmonitor_port) == ("https://env.example.com", 3000)


def test_config_path_from_the_environment(tmp_path):
    path = write(tmp_path, f"[odoo]\nurl = https://shop.example.com\napi_key = {KEY}\n")
    config = load_config(environ={"CK_AGENT_CONFIG": path})
    assert config.source == path


def test_empty_environment_variables_do_not_override(tmp_path):
    path = write(tmp_path, f"[odoo]\nurl = https://shop.example.com\napi_key = {KEY}\n")
    assert load_config(path, environ={"CK_AGENT_API_KEY": "", "CK_AGENT_ODOO_URL": "  "}).odoo_api_key == KEY


@pytest.mark.parametrize(("environ", "message"), [
    ({"CK_AGENT_API_KEY": KEY}, "Odoo URL is missing"),
    ({"CK_AGENT_ODOO_URL": "https://shop.example.com"}, "API key is missing"),
    ({**MINIMAL, "CK_AGENT_ODOO_URL": "ftp://shop.example.com"}, "must look like https://"),
    ({**MINIMAL, "CK_AGENT_ODOO_URL": "shop.example.com"}, "must look like https://"),
    ({**MINIMAL, "CK_AGENT_ODOO_URL": "https://u:p@shop.example.com"}, "credentials"),
    ({**MINIMAL, "CK_AGENT_API_KEY": "two words"}, "spaces"),
    ({**MINIMAL, "CK_AGENT_CKMONITOR_PORT": "70000"}, "between 1 and 65535"),
    ({**MINIMAL, "CK_AGENT_CKMONITOR_PORT": "abc"}, "not a whole number"),
    ({**MINIMAL, "CK_AGENT_POLL_WAIT": "soon"}, "not a number"),
    ({**MINIMAL, "CK_AGENT_POLL_WAIT": "0"}, "poll_wait"),
    ({**MINIMAL, "CK_AGENT_STATUS_INTERVAL": "-1"}, "status_interval"),
    ({**MINIMAL, "CK_AGENT_FIXED_INTERVAL": "-2"}, "fixed_interval"),
    ({**MINIMAL, "CK_AGENT_VERIFY_TLS": "maybe"}, "not true or false"),
    ({**MINIMAL, "CK_AGENT_LOG_LEVEL": "LOUD"}, "log_level"),
    ({**MINIMAL, "CK_AGENT_CA_FILE": "/nonexistent/ca.pem"}, "does not exist"),
])
def test_invalid_settings_are_refused_with_a_clear_message(environ, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(environ=environ)
    assert KEY not in str(info.value)


def test_unreadable_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config(str(tmp_path / "missing.ini"), environ=MINIMAL)
    with pytest.raises(ConfigError, match="not a valid INI file"):
        load_config(write(tmp_path, "url = no section\n"), environ=MINIMAL)


def test_warnings_plain_http_tls_off_unknown_keys_fixed_interval(tmp_path):
    config = load_config(environ={**MINIMAL, "CK_AGENT_ODOO_URL": "http://odoo.lan:8069"})
    assert any("travels in clear" in w and "use https" in w for w in config.warnings)
    config = load_config(environ={**MINIMAL, "CK_AGENT_ODOO_URL": "http://localhost:8069"})
    assert any("travels in clear" in w and "this machine" in w for w in config.warnings)
    config = load_config(environ={**MINIMAL, "CK_AGENT_VERIFY_TLS": "0"})
    assert any("verification is OFF" in w for w in config.warnings)
    config = load_config(environ={**MINIMAL, "CK_AGENT_FIXED_INTERVAL": "2"})
    assert any("benchmark baseline" in w for w in config.warnings)
    path = write(tmp_path, "[odoo]\napikey = typo\n[odo]\nurl = x\n")
    warnings = load_config(path, environ=MINIMAL).warnings
    assert any("unknown setting 'apikey'" in w for w in warnings)
    assert any("unknown section [odo]" in w for w in warnings)


def test_the_key_is_never_in_repr():
    config = load_config(environ=MINIMAL)
    assert KEY not in repr(config) and KEY not in str(config)


def test_main_exits_2_on_configuration_errors(monkeypatch, capsys):
    for name in ("CK_AGENT_CONFIG", "CK_AGENT_ODOO_URL", "CK_AGENT_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main([]) == 2
    assert "Odoo URL is missing" in capsys.readouterr().err
    monkeypatch.setenv("CK_AGENT_ODOO_URL", "https://shop.example.com")
    assert main(["--poll-wait", "0"]) == 2
    assert "API key is missing" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert f"cashkeeper-agent {cashkeeper_agent.__version__}" in capsys.readouterr().out
    pyproject = (AGENT_DIR / "pyproject.toml").read_text()
    assert f'version = "{cashkeeper_agent.__version__}"' in pyproject


def test_redact_filter_hides_the_key(caplog):
    logger = logging.getLogger("cashkeeper_agent.test")
    redact = RedactKey(KEY)
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "header Bearer %s", (KEY,), None)
    assert redact.filter(record)
    assert KEY not in record.getMessage() and "[API key hidden]" in record.getMessage()
