"""``[contact]`` and ``[smtp]`` in embassy.toml: defaults, and every mistake named with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from embassy.config import ConfigError, load_config
from embassy.contact.config import ContactConfig

BASE = '[mission]\nname = "M"\n[[stores]]\nname = "lu"\nkind = "filesystem"\npath = "s"\njurisdiction = "LU"\n'


def load(tmp_path: Path, extra: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "embassy.toml"
    path.write_text(BASE + extra, encoding="utf-8")
    return load_config(path, {})


def test_the_defaults_are_the_production_settings(tmp_path: Path) -> None:
    config = load(tmp_path, "")
    assert config.contact == ContactConfig() and config.smtp is None
    assert (config.contact.retention_days, config.contact.pow_iterations, config.contact.pow_bits) == (365, 5000, 8)


def test_the_contract_example_is_taken(tmp_path: Path) -> None:
    config = load(tmp_path, '[contact]\nemergency_phone = "+7 700 000 00 00"\nemail = "consular@mission.example"\n'
                            'duty_email = "duty@mission.example"\nretention_days = 30\n'
                            '[smtp]\nhost = "127.0.0.1"\nport = 587\nstarttls = true\nusername = "mission"\n'
                            'password_env = "SMTP_PASSWORD"\nfrom = "mission@mission.example"\n')  # fmt: skip
    assert config.contact.duty_email == "duty@mission.example" and config.contact.retention_days == 30
    assert config.smtp is not None and (config.smtp.sender, config.smtp.password_env) == ("mission@mission.example",
                                                                                          "SMTP_PASSWORD")  # fmt: skip
    assert config.without_secrets().smtp == config.smtp  # it holds a variable's name, never the password


@pytest.mark.parametrize(("extra", "message"), [
    ('[contact]\nduty_email = "duty@x.example"\n', "contact.duty_email: needs an [smtp] section"),
    ('[contact]\nemail = "not an address"\n', "contact.email: 'not an address' is not an e-mail address"),
    ('[contact]\nretention_days = 0\n', "contact.retention_days: 0 is out of range"),
    ('[contact]\nretention_days = "a year"\n', "contact.retention_days: must be an integer"),
    ('[contact]\npow_bits = 6\n', "contact.pow_bits: 6 is not a multiple of 4"),
    ('[contact]\nretension_days = 3\n', "contact.retension_days: unknown key; did you mean 'retention_days'?"),
    ('[contact]\nemergency_phone = "call us"\n', "contact.emergency_phone: 'call us' is not a phone number"),
    ('[smtp]\nhost = "h"\n', "smtp.from: missing required key"),
    ('[smtp]\nhost = "h"\nfrom = "a@b.example"\npassword_env = "hunter2!"\n', "smtp.password_env: is not an environment"),
    ('[smtp]\nhost = "h"\nfrom = "a@b.example"\nport = 99999\n', "smtp.port: 99999 is out of range"),
    ('[smtp]\nhost = "h"\nfrom = "a@b.example"\nstarttls = "yes"\n', "smtp.starttls: must be true or false"),
])  # fmt: skip
def test_mistakes_are_refused_with_the_key_and_the_fix(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, extra)
    assert message in str(e.value) and "hunter2" not in str(e.value)
