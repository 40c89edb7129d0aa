"""`kind = "postgres"` registries in embassy.toml: the keys, their defaults, and every mistake refused
before anything runs with the file, the key and the fix, never echoing a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from embassy.config import ConfigError, load_config
from replication.spec import PostgresSpec

HEAD = """[mission]
name = "Test Mission"
jurisdiction = "KZ"

[[stores]]
name = "lu"
kind = "s3"
endpoint = "http://127.0.0.1:9"
bucket = "embassy"
jurisdiction = "LU"
access_key_env = "LU_ACCESS"
secret_key_env = "LU_SECRET"

[[registries]]
name = "civil-register"
kind = "postgres"
"""
ENV = {"LU_ACCESS": "a", "LU_SECRET": "s", "CIVIL_PGPASSWORD": "pg-secret-9876", "PATH": "/usr/bin", "HOME": "/root"}


def load(tmp_path: Path, registry: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "embassy.toml"
    path.write_text(HEAD + registry)
    return load_config(path, ENV if env is None else env)


def test_the_contracts_keys_with_the_password_as_pgpassword_of_the_dump_alone(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        'database = "civil"\nhost = "127.0.0.1"\nport = 5433\nuser = "embassy"\npassword_env = "CIVIL_PGPASSWORD"\n'
        'env = ["PGSSLMODE"]\n',
        {**ENV, "PGSSLMODE": "require"},
    )
    spec = config.registry("civil-register")
    assert spec.kind == "postgres" and spec.postgres == PostgresSpec("civil", "127.0.0.1", 5433, "embassy")
    assert dict(spec.environment) == {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "PGSSLMODE": "require",
        "PGPASSWORD": "pg-secret-9876",
    }
    assert "pg-secret-9876" not in repr(spec)
    assert config.without_secrets().registry("civil-register").environment == ()


def test_defaults_are_the_local_socket_port_5432_and_the_os_user(tmp_path: Path) -> None:
    spec = load(tmp_path, 'database = "civil"\n').registry("civil-register")
    assert spec.postgres == PostgresSpec("civil", None, 5432, None)
    assert "PGPASSWORD" not in dict(spec.environment)


@pytest.mark.parametrize(
    ("registry", "message"),
    [
        ("", 'registries[0] (civil-register).database: missing required key; the database to back up, e.g. database = "civil"'),
        ('database = "civil"\nport = 70000\n', "registries[0] (civil-register).port: 70000 is out of range; use a number between 1 and 65535"),
        ('database = "civil"\nport = "5432"\n', "registries[0] (civil-register).port: must be an integer, not a string"),
        ('database = "civil"\npath = "x"\n', 'registries[0] (civil-register).path: a postgres registry takes database = "...", not path'),
        ('database = "civil"\ncommand = ["pg_dump"]\n', 'registries[0] (civil-register).command: a postgres registry takes database = "...", not command'),
        ('database = "civil"\ndatabse = "x"\n', "registries[0].databse: unknown key; did you mean 'database'?"),
        ('database = "civil"\npassword_env = "UNSET_PGPASSWORD"\n', "registries[0] (civil-register).password_env: environment variable UNSET_PGPASSWORD is not set"),
        ('database = "civil"\npassword_env = "EMBASSY_PASSPHRASE"\n', "registries[0] (civil-register).password_env: EMBASSY_PASSPHRASE is embassy's own variable"),
        ('database = "civil"\npassword_env = "LU_SECRET"\n', "registries[0] (civil-register).password_env: LU_SECRET already holds a store's credential"),
        ('database = "civil"\nenv = ["LU_SECRET"]\n', "registries[0] (civil-register).env: LU_SECRET holds a store's credential"),
        ('database = "civil"\nuser = ""\n', "registries[0] (civil-register).user: must name a database user"),
    ],
)  # fmt: skip
def test_mistakes_name_the_key_and_the_fix(tmp_path: Path, registry: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, registry)
    assert str(e.value).startswith("embassy.toml: " + message), str(e.value)


def test_a_password_written_in_place_of_its_variables_name_is_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, 'database = "civil"\npassword_env = "hunter2 secret!"\n')
    assert "hunter2" not in str(e.value)
    assert "password_env: is not an environment variable name (write the variable's name, never the password)" in str(
        e.value
    )


def test_postgres_keys_on_another_kind_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "embassy.toml"
    path.write_text(HEAD.replace('kind = "postgres"', 'kind = "directory"') + 'path = "x"\ndatabase = "civil"\n')
    with pytest.raises(ConfigError, match=r'database: only a postgres registry takes database; .* kind = "postgres"'):
        load_config(path, ENV)


def test_another_registrys_password_is_never_passed_to_a_dump_command(tmp_path: Path) -> None:
    text = (
        'database = "civil"\npassword_env = "CIVIL_PGPASSWORD"\n\n[[registries]]\nname = "other"\nkind = "command"\n'
        'command = ["pg_dump"]\nenv = ["CIVIL_PGPASSWORD"]\n'
    )
    with pytest.raises(ConfigError, match=r"registries\[1\] \(other\)\.env: CIVIL_PGPASSWORD holds a database password"):
        load(tmp_path, text)
