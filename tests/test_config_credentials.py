"""Secrets named by ``*_env`` keys: the environment first, else systemd's ``$CREDENTIALS_DIRECTORY``.

Under systemd the unit gives each secret with ``LoadCredential=NAME``; the service then sees a file
``$CREDENTIALS_DIRECTORY/NAME`` and no environment variable, so no child process inherits it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

from embassy.config import ConfigError, load_config, secret_from_environment

CONFIG = """[mission]
name = "Test Mission"
jurisdiction = "KZ"

[server]
metrics_token_env = "METRICS_TOKEN_FOR_TEST"

[[stores]]
name = "lu"
kind = "s3"
endpoint = "http://127.0.0.1:9"
bucket = "embassy"
jurisdiction = "LU"
access_key_env = "LU_ACCESS_KEY_FOR_TEST"
secret_key_env = "LU_SECRET_KEY_FOR_TEST"
"""
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY=="


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "embassy.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    folder = tmp_path / "credentials"
    folder.mkdir()
    return folder


def test_credential_files_give_the_store_secrets(config: Path, credentials: Path) -> None:
    (credentials / "LU_ACCESS_KEY_FOR_TEST").write_text("access-from-file\n")  # as `echo x > file` writes it
    (credentials / "LU_SECRET_KEY_FOR_TEST").write_bytes(SECRET.encode() + b"\r\n")
    loaded = load_config(config, {"CREDENTIALS_DIRECTORY": str(credentials)})
    creds = loaded.stores[0].credentials
    assert creds is not None
    assert (creds.access_key, creds.secret_key) == ("access-from-file", SECRET)


def test_the_environment_variable_wins_over_the_credential_file(config: Path, credentials: Path) -> None:
    (credentials / "LU_ACCESS_KEY_FOR_TEST").write_text("from-file")
    (credentials / "LU_SECRET_KEY_FOR_TEST").write_text("secret-from-file")
    env = {"CREDENTIALS_DIRECTORY": str(credentials), "LU_ACCESS_KEY_FOR_TEST": "from-env"}
    creds = load_config(config, env).stores[0].credentials
    assert creds is not None
    assert (creds.access_key, creds.secret_key) == ("from-env", "secret-from-file")
    # An empty variable counts as unset, as it always has.
    creds = load_config(config, {**env, "LU_ACCESS_KEY_FOR_TEST": ""}).stores[0].credentials
    assert creds is not None and creds.access_key == "from-file"


def test_only_the_final_newline_is_removed(credentials: Path) -> None:
    (credentials / "TOKEN").write_bytes(b"  two\nlines  \n\n")
    assert secret_from_environment("TOKEN", {"CREDENTIALS_DIRECTORY": str(credentials)}) == "  two\nlines  \n"


def test_neither_variable_nor_credential(credentials: Path) -> None:
    assert secret_from_environment("ABSENT", {}) is None
    assert secret_from_environment("ABSENT", {"CREDENTIALS_DIRECTORY": str(credentials)}) is None
    # systemd always sets an absolute path; a relative one is not looked up against the working folder.
    assert secret_from_environment("ABSENT", {"CREDENTIALS_DIRECTORY": "credentials"}) is None


def test_a_missing_credential_says_how_to_give_it(config: Path, credentials: Path) -> None:
    (credentials / "LU_ACCESS_KEY_FOR_TEST").write_text("access")
    with pytest.raises(ConfigError) as e:
        load_config(config, {"CREDENTIALS_DIRECTORY": str(credentials)})
    assert str(e.value) == (
        "embassy.toml: stores[0] (lu).secret_key_env: environment variable LU_SECRET_KEY_FOR_TEST is not set "
        "and $CREDENTIALS_DIRECTORY has no file LU_SECRET_KEY_FOR_TEST; add LoadCredential=LU_SECRET_KEY_FOR_TEST "
        "to the service"
    )
    with pytest.raises(ConfigError, match=r"export it before running embassy, or give it as a systemd credential"):
        load_config(config, {})


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty; write the secret into it"),
        (b"\n", "empty; write the secret into it"),
        (b"\xff\xfe" + SECRET.encode(), "not UTF-8 text"),
        (SECRET.encode() * 3000, "larger than 64 KiB; is it the right file?"),
    ],
)
def test_an_unusable_credential_file_is_refused_without_its_content(
    config: Path, credentials: Path, content: bytes, problem: str
) -> None:
    (credentials / "LU_ACCESS_KEY_FOR_TEST").write_bytes(content)
    (credentials / "LU_SECRET_KEY_FOR_TEST").write_text("fine")
    with pytest.raises(ConfigError) as e:
        load_config(config, {"CREDENTIALS_DIRECTORY": str(credentials)})
    path = credentials / "LU_ACCESS_KEY_FOR_TEST"
    assert str(e.value) == f"embassy.toml: stores[0] (lu).access_key_env: credential {path}: {problem}"
    assert SECRET not in str(e.value)


def test_an_unreadable_credential_is_a_configuration_error_of_the_cli(config: Path, credentials: Path) -> None:
    (credentials / "LU_ACCESS_KEY_FOR_TEST").mkdir()  # a folder where a file should be
    (credentials / "LU_SECRET_KEY_FOR_TEST").write_text(SECRET)
    result = run_cli("--config", str(config), "status", env={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert result.code == 2
    assert result.err.strip() == (
        f"embassy: embassy.toml: stores[0] (lu).access_key_env: credential {credentials / 'LU_ACCESS_KEY_FOR_TEST'}: "
        "cannot read: Is a directory"
    )
    assert SECRET not in result.err + result.out


def test_a_dump_commands_named_variable_may_be_a_credential(config: Path, credentials: Path) -> None:
    config.write_text(
        CONFIG + '\n[[registries]]\nname = "civil"\nkind = "command"\ncommand = ["pg_dump", "civil"]\n'
        'env = ["PGPASSWORD", "PGSSLMODE", "PGUNSET"]\n'
    )
    (credentials / "PGPASSWORD").write_text("pg-secret-from-file\n")
    (credentials / "LU_ACCESS_KEY_FOR_TEST").write_text("access")
    (credentials / "LU_SECRET_KEY_FOR_TEST").write_text(SECRET)
    env = {"CREDENTIALS_DIRECTORY": str(credentials), "PGSSLMODE": "require", "PATH": "/usr/bin"}
    child = dict(load_config(config, env).registries[0].environment)
    # The credential reaches the dump command (and only it); a name found nowhere is left out.
    assert child == {"PATH": "/usr/bin", "PGPASSWORD": "pg-secret-from-file", "PGSSLMODE": "require"}
