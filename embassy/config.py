"""``embassy.toml``: load, validate and resolve into typed objects before anything runs.

Every mistake is one :class:`ConfigError` whose message names the file, the key and the fix, e.g.
``embassy.toml: stores[1].kind: "ftp" is not a store kind; use "s3" or "filesystem"``.
Relative paths are resolved against the config file's folder. Registry paths are not checked
here: a fresh machine recovering from a store has none yet.
"""

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from embassy.child_env import minimal_environment
from embassy.contact.config import ContactConfig, SmtpConfig, parse_contact, parse_smtp
from replication.spec import KeepPolicy, PostgresSpec, RegistrySpec, S3Credentials, StoreSpec

DEFAULT_CONFIG_NAME = "embassy.toml"
SERVER_KEYS = (
    "host", "port", "public_url", "trusted_proxies", "metrics_token_env", "search_per_minute", "log_format",
)  # fmt: skip
LOG_FORMATS = ("text", "json")
SERVER_TIMEOUTS = ("header_timeout", "keepalive_timeout", "body_timeout")
NAME_RE = re.compile(r"^[a-z0-9-]+$")
LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
JURISDICTION_RE = re.compile(r"^[A-Z]{2}$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INTERVAL_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
MAX_CREDENTIAL_BYTES = 64 * 1024
REGISTRY_KINDS = ("directory", "sqlite", "command", "postgres")
POSTGRES_KEYS = {"database", "host", "port", "user", "password_env"}
MIN_INTERVAL = 5  # seconds: continuous mode's shortest round
DURATION_HINT = 'write e.g. "5s", "30s", "15m", "1h" or "1h30m"'


class ConfigError(Exception):
    """A configuration mistake; the CLI prints it as one line and exits 2."""


@dataclass(frozen=True, slots=True)
class MissionConfig:
    name: str
    languages: tuple[str, ...] = ("en",)
    data_dir: Path = Path("var")
    jurisdiction: str = ""

    @property
    def fallback_language(self) -> str:
        return self.languages[0]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    trusted_proxies: tuple[str, ...] = ()
    metrics_token_env: str | None = None
    # Connection limits (seconds): a request's headers must arrive within header_timeout of its
    # first byte (or of the connection opening); an idle keep-alive connection is closed after
    # keepalive_timeout; a form body must arrive within body_timeout.
    header_timeout: float = 10.0
    keepalive_timeout: float = 75.0
    body_timeout: float = 30.0
    search_per_minute: int = 60  # searches per client address (IPv6: per /64); 0 = no limit
    log_format: str = "text"  # "text" or "json" (one JSON object a line: embassy/logs.py)

    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies]


UNCHECKABLE_EVERY = 3600  # command and postgres registries: dumped hourly unless `every` says otherwise


@dataclass(frozen=True, slots=True)
class ReplicationConfig:
    quorum: int
    interval_seconds: int = 900
    keep: KeepPolicy = field(default_factory=KeepPolicy)
    rpo_alert_seconds: int = 0  # 0: three intervals
    full_every_seconds: int = 86400  # a full re-read of each registry at least this often
    store_down_alert_seconds: int = 900
    every: tuple[tuple[str, int], ...] = ()  # registry name -> its own `every` (seconds), where set

    @property
    def rpo_alert(self) -> int:
        return self.rpo_alert_seconds or 3 * self.interval_seconds

    def every_seconds(self, registry: RegistrySpec) -> int:
        """How often ``embassy serve`` considers this registry: its own ``every``, else the interval for
        the kinds whose change is cheap to detect (directory, sqlite), else hourly."""
        own = dict(self.every).get(registry.name)
        if own is not None:
            return own
        return self.interval_seconds if registry.kind in ("directory", "sqlite") else UNCHECKABLE_EVERY


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    mission: MissionConfig
    server: ServerConfig
    registries: tuple[RegistrySpec, ...]
    stores: tuple[StoreSpec, ...]
    replication: ReplicationConfig
    contact: ContactConfig = field(default_factory=ContactConfig)
    smtp: SmtpConfig | None = None  # holds the name of the password's variable, never the password

    @property
    def data_dir(self) -> Path:
        return self.mission.data_dir

    @property
    def keyring_path(self) -> Path:
        return self.mission.data_dir / "keyring"

    def without_secrets(self) -> "Config":
        """This config without the values of secret variables (store credentials, dump commands'
        environments): what a process that answers the internet may hold. A new secret field in
        the config must be dropped here too."""
        return replace(
            self,
            stores=tuple(replace(s, credentials=None) for s in self.stores),
            registries=tuple(replace(r, environment=()) for r in self.registries),
        )

    def counts_for_quorum(self, store: StoreSpec) -> bool:
        """Stores in the home jurisdiction are welcome copies but not a data embassy."""
        home = self.mission.jurisdiction
        return not (home and store.jurisdiction == home)

    def registry(self, name: str) -> RegistrySpec:
        for reg in self.registries:
            if reg.name == name:
                return reg
        known = ", ".join(r.name for r in self.registries) or "none configured"
        raise ConfigError(f"{self.path.name}: no registry named {name!r} (registries: {known})")

    def store(self, name: str) -> StoreSpec:
        for store in self.stores:
            if store.name == name:
                return store
        known = ", ".join(s.name for s in self.stores)
        raise ConfigError(f"{self.path.name}: no store named {name!r} (stores: {known})")


def find_config_path(cli_path: str | None, environ: Mapping[str, str]) -> Path:
    """``--config``, else ``$EMBASSY_CONFIG``, else ``./embassy.toml``."""
    return Path(cli_path or environ.get("EMBASSY_CONFIG") or DEFAULT_CONFIG_NAME)


def secret_from_environment(name: str, environ: Mapping[str, str]) -> str | None:
    """The secret that a ``*_env`` key names: the environment variable ``name`` when it is set and
    not empty, else the file ``$CREDENTIALS_DIRECTORY/<name>`` (a systemd ``LoadCredential=``),
    with one trailing newline removed; ``None`` when neither exists.

    Every ``*_env`` key of the config is resolved here and nowhere else. The secret itself never
    appears in an error. Raises :class:`ConfigError` for a credential file that exists but cannot
    be used (unreadable, too large, empty, not UTF-8).
    """
    if not ENV_NAME_RE.match(name):
        raise ConfigError(f"{name!r} is not an environment variable name")
    value = environ.get(name, "")
    if value:
        return value
    folder = environ.get("CREDENTIALS_DIRECTORY", "")
    if not folder or not Path(folder).is_absolute():
        return None
    path = Path(folder) / name
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CREDENTIAL_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"credential {path}: cannot read: {e.strerror}") from e
    if len(data) > MAX_CREDENTIAL_BYTES:
        raise ConfigError(f"credential {path}: larger than {MAX_CREDENTIAL_BYTES // 1024} KiB; is it the right file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"credential {path}: not UTF-8 text") from e
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise ConfigError(f"credential {path}: empty; write the secret into it")
    return text


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate ``path``; raises :class:`ConfigError` for the first mistake found."""
    environ = os.environ if environ is None else environ
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; run `embassy init` to write one, or pass --config PATH")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path.name}: not valid TOML: {e}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from e
    return _Parser(path, environ).parse(raw)


def parse_interval(text: str) -> int | None:
    m = INTERVAL_RE.match(text.strip())
    if not text.strip() or not m or not any(m.groups()):
        return None
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


class _Parser:
    def __init__(self, path: Path, environ: Mapping[str, str]) -> None:
        self.path = path
        self.base = path.resolve().parent
        self.environ = environ
        self.every: dict[str, int] = {}  # registries' own `every`

    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path.name}: {where}: {problem}")

    def secret(self, env: str, where: str) -> str:
        try:
            secret = secret_from_environment(env, self.environ)
        except ConfigError as e:
            raise self.fail(where, str(e)) from e
        if secret is None:
            if self.environ.get("CREDENTIALS_DIRECTORY"):
                problem = (
                    f"environment variable {env} is not set and $CREDENTIALS_DIRECTORY has no file {env}; "
                    f"add LoadCredential={env} to the service"
                )
            else:
                problem = (
                    f"environment variable {env} is not set; export it before running embassy, "
                    f"or give it as a systemd credential (LoadCredential={env})"
                )
            raise self.fail(where, problem)
        return secret

    # -- generic checks --------------------------------------------------------------------------

    def table(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a table, not {_type_name(value)}; write it as [{where}]")
        return value

    def known_keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(sorted(allowed))
                raise self.fail(f"{where}.{key}" if where else key, f"unknown key; {hint}")

    def get(
        self, table: Mapping[str, Any], key: str, where: str, kind: type, default: Any = ..., *, required_hint: str = ""
    ) -> Any:
        if key not in table:
            if default is ...:
                raise self.fail(f"{where}.{key}", f"missing required key{required_hint}")
            return default
        value = table[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            raise self.fail(f"{where}.{key}", f"must be {_kind_name(kind)}, not {_type_name(value)} ({_show(value)})")
        return value

    def str_list(
        self, table: Mapping[str, Any], key: str, where: str, default: Any = ..., *, required_hint: str = ""
    ) -> list[str]:
        value = self.get(table, key, where, list, default, required_hint=required_hint)
        for item in value:
            if not isinstance(item, str):
                raise self.fail(f"{where}.{key}", f"must be a list of strings; {_show(item)} is {_type_name(item)}")
        return list(value)

    def name(self, value: str, where: str) -> str:
        if not NAME_RE.match(value):
            raise self.fail(where, f"{value!r} may use only a-z, 0-9 and '-'; e.g. {_slug(value)!r}")
        return value

    def resolve(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base / p

    def positive_int(self, value: int, where: str, low: int = 0, high: int | None = None) -> int:
        if value < low or (high is not None and value > high):
            rng = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise self.fail(where, f"{value} is out of range; use a number {rng}")
        return value

    # -- sections --------------------------------------------------------------------------------

    def parse(self, raw: dict[str, Any]) -> Config:
        self.known_keys(raw, {"mission", "server", "registries", "stores", "replication", "contact", "smtp"}, "")
        if "mission" not in raw:
            raise self.fail("[mission]", 'missing required section; add [mission] with name = "..."')
        mission = self.mission(self.table(raw["mission"], "mission"))
        server = self.server(self.table(raw.get("server", {}), "server"))
        registries = self.registries(raw.get("registries", []), self.secret_variables(raw, server))
        stores = self.stores(raw.get("stores"))
        replication = self.replication(self.table(raw.get("replication", {}), "replication"), mission, stores)
        replication = replace(replication, every=tuple(self.every.items()))
        smtp = parse_smtp(self, self.table(raw["smtp"], "smtp")) if "smtp" in raw else None
        contact = parse_contact(self, self.table(raw.get("contact", {}), "contact"), smtp is not None)
        return Config(self.path, mission, server, registries, stores, replication, contact, smtp)

    def mission(self, t: dict[str, Any]) -> MissionConfig:
        w = "mission"
        self.known_keys(t, {"name", "languages", "data_dir", "jurisdiction"}, w)
        name = self.get(t, "name", w, str, required_hint='; the mission\'s name, e.g. name = "Virtual Mission"')
        if not name.strip():
            raise self.fail(f"{w}.name", "must not be empty")
        langs = self.str_list(t, "languages", w, ["en"])
        if not langs:
            raise self.fail(f"{w}.languages", 'must list at least one language, e.g. ["en"]')
        for lang in langs:
            if not LANG_RE.match(lang):
                raise self.fail(f"{w}.languages", f'{lang!r} is not a language code; use codes like "kk", "ru", "en"')
        if len(set(langs)) != len(langs):
            dup = next(lang for lang in langs if langs.count(lang) > 1)
            raise self.fail(f"{w}.languages", f"{dup!r} is listed twice")
        data_dir = self.resolve(self.get(t, "data_dir", w, str, "var"))
        jurisdiction = self.get(t, "jurisdiction", w, str, "")
        if jurisdiction and not JURISDICTION_RE.match(jurisdiction):
            raise self.fail(
                f"{w}.jurisdiction", f'{jurisdiction!r} is not an ISO 3166 code; use two capitals like "KZ"'
            )
        return MissionConfig(name.strip(), tuple(langs), data_dir, jurisdiction)

    def server(self, t: dict[str, Any]) -> ServerConfig:
        w = "server"
        self.known_keys(t, {*SERVER_KEYS, *SERVER_TIMEOUTS}, w)
        host = self.get(t, "host", w, str, "127.0.0.1")
        port = self.positive_int(self.get(t, "port", w, int, 8080), f"{w}.port", 1, 65535)
        public_url = self.get(t, "public_url", w, str, "")
        if public_url:
            u = urlparse(public_url)
            if u.scheme not in ("http", "https") or not u.netloc or u.query or u.fragment:
                raise self.fail(
                    f"{w}.public_url", f'{public_url!r} must be an absolute http(s) URL like "https://mission.example"'
                )
            public_url = public_url.rstrip("/")
        else:
            shown = f"[{host}]" if ":" in host else host
            public_url = f"http://{shown}:{port}"
        proxies = self.str_list(t, "trusted_proxies", w, [])
        for p in proxies:
            try:
                ipaddress.ip_network(p, strict=False)
            except ValueError as e:
                raise self.fail(
                    f"{w}.trusted_proxies", f'{p!r} is not an IP address or network like "10.0.0.0/8"'
                ) from e
        token_env = self.get(t, "metrics_token_env", w, str, None)
        if token_env is not None and not ENV_NAME_RE.match(token_env):
            raise self.fail(f"{w}.metrics_token_env", f"{token_env!r} is not an environment variable name")
        defaults = ServerConfig()
        timeouts = {k: self.seconds(t, k, w, getattr(defaults, k)) for k in SERVER_TIMEOUTS}
        search = self.get(t, "search_per_minute", w, int, defaults.search_per_minute)
        search = self.positive_int(search, f"{w}.search_per_minute", 0, 1_000_000)
        log_format = self.get(t, "log_format", w, str, "text")
        if log_format not in LOG_FORMATS:
            raise self.fail(f"{w}.log_format", f'{log_format!r} is not a log format; use "text" or "json"')
        return ServerConfig(
            host, port, public_url, tuple(proxies), token_env, **timeouts, search_per_minute=search,
            log_format=log_format,
        )  # fmt: skip

    def seconds(self, table: Mapping[str, Any], key: str, where: str, default: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{where}.{key}", f"must be a number of seconds, not {_type_name(value)} ({_show(value)})")
        if not 0 < value <= 3600:
            raise self.fail(f"{where}.{key}", f"{value} is out of range; use a number of seconds above 0, at most 3600")
        return float(value)

    def array_of_tables(self, value: Any, key: str) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, f"must be written as [[{key}]] tables, not {_type_name(value)}")
        return value

    def secret_variables(self, raw: Mapping[str, Any], server: ServerConfig) -> dict[str, str]:
        """Variables that hold the mission's secrets, each with what it holds (for refusing them in ``env``)."""
        secrets: dict[str, str] = {}
        if server.metrics_token_env:
            secrets[server.metrics_token_env] = "the metrics token (server.metrics_token_env)"
        stores = raw.get("stores")
        for i, t in enumerate(stores if isinstance(stores, list) else []):
            if isinstance(t, dict):
                for key in ("access_key_env", "secret_key_env"):
                    if isinstance(t.get(key), str):
                        secrets[t[key]] = f"a store's credential (stores[{i}].{key})"
        registries = raw.get("registries")
        for i, t in enumerate(registries if isinstance(registries, list) else []):
            if isinstance(t, dict) and isinstance(t.get("password_env"), str):
                secrets.setdefault(t["password_env"], f"a database password (registries[{i}].password_env)")
        return secrets

    def registry_env(self, t: Mapping[str, Any], w: str, secrets: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        """The whole environment of a dump command: the minimal base and the variables ``env`` names."""
        names = self.str_list(t, "env", w, [])
        for i, name in enumerate(names):
            if not ENV_NAME_RE.match(name):
                # The entry is not echoed: a value (a password) may have been written in place of a name.
                raise self.fail(
                    f"{w}.env",
                    f'entry {i + 1} is not an environment variable name; write names like "PGPASSWORD", never values',
                )
            if name.startswith("EMBASSY_"):
                raise self.fail(
                    f"{w}.env",
                    f"{name} is embassy's own variable (it may hold the keyring passphrase) and is never passed to "
                    "a dump command; remove it",
                )
            if name in secrets:
                raise self.fail(
                    f"{w}.env", f"{name} holds {secrets[name]} and is never passed to a dump command; remove it"
                )
        env = minimal_environment(self.environ, names)
        for name in names:  # a variable that is not set may be a systemd credential (LoadCredential=NAME)
            if name not in env and (secret := secret_from_environment(name, self.environ)) is not None:
                env[name] = secret
        return tuple(sorted(env.items()))

    def registries(self, value: Any, secrets: Mapping[str, str]) -> tuple[RegistrySpec, ...]:
        out: list[RegistrySpec] = []
        seen: set[str] = set()
        for i, t in enumerate(self.array_of_tables(value, "registries")):
            w = f"registries[{i}]"
            self.known_keys(t, {"name", "kind", "path", "command", "env", "every", *POSTGRES_KEYS}, w)
            name = self.name(self.get(t, "name", w, str, required_hint='; e.g. name = "population"'), f"{w}.name")
            w = f"registries[{i}] ({name})"
            if name in seen:
                raise self.fail(f"{w}.name", f"registry name {name!r} is used twice; each registry needs its own name")
            seen.add(name)
            if "every" in t:
                self.every[name] = self.duration(t, "every", w, "1h")
            kind = self.get(t, "kind", w, str, required_hint='; one of "directory", "sqlite", "command", "postgres"')
            if kind not in REGISTRY_KINDS:
                raise self.fail(
                    f"{w}.kind", f'{kind!r} is not a registry kind; use "directory", "sqlite", "command" or "postgres"'
                )
            if kind != "postgres":
                for key in sorted(POSTGRES_KEYS & set(t)):
                    raise self.fail(f"{w}.{key}", f'only a postgres registry takes {key}; remove it or set kind = "postgres"')
            if kind == "postgres":
                out.append(self.postgres_registry(name, t, w, secrets))
            elif kind == "command":
                if "path" in t:
                    raise self.fail(f"{w}.path", "a command registry takes command = [...], not path")
                command = self.str_list(
                    t, "command", w, required_hint='; e.g. command = ["pg_dump", "--format=custom", "db"]'
                )
                if not command or not command[0]:
                    raise self.fail(f"{w}.command", 'must name the program to run, e.g. ["pg_dump", "db"]')
                out.append(RegistrySpec(name, "command", None, tuple(command), self.registry_env(t, w, secrets)))
            else:
                if "command" in t:
                    raise self.fail(
                        f"{w}.command", f"only command registries run a command; a {kind} registry takes path"
                    )
                if "env" in t:
                    raise self.fail(
                        f"{w}.env", "only a command or postgres registry's dump gets variables; remove it here"
                    )
                path = self.get(t, "path", w, str, required_hint=f"; the {kind} registry's location")
                if not path:
                    raise self.fail(f"{w}.path", "must not be empty")
                out.append(RegistrySpec(name, kind, self.resolve(path)))
        return tuple(out)

    def postgres_registry(
        self, name: str, t: Mapping[str, Any], w: str, secrets: Mapping[str, str]
    ) -> RegistrySpec:
        """A PostgreSQL database: where it is, and pg_dump's environment with the password as PGPASSWORD."""
        for key in ("path", "command"):
            if key in t:
                raise self.fail(f"{w}.{key}", f'a postgres registry takes database = "...", not {key}')
        database = self.get(t, "database", w, str, required_hint='; the database to back up, e.g. database = "civil"')
        if not database or "\0" in database:
            raise self.fail(f"{w}.database", "must name a database")
        host = self.get(t, "host", w, str, None)
        if host is not None and (not host.strip() or "\0" in host):
            raise self.fail(f"{w}.host", 'must be a host name, an address or a socket folder, e.g. "127.0.0.1"')
        port = self.positive_int(self.get(t, "port", w, int, 5432), f"{w}.port", 1, 65535)
        user = self.get(t, "user", w, str, None)
        if user is not None and (not user or "\0" in user):
            raise self.fail(f"{w}.user", "must name a database user (or leave it out for the OS user)")
        password_env = self.get(t, "password_env", w, str, None)
        others = {k: v for k, v in secrets.items() if k != password_env}
        env = dict(self.registry_env(t, w, others))
        if password_env is not None:
            if not ENV_NAME_RE.match(password_env):
                # Not echoed: the password itself may have been written here.
                raise self.fail(
                    f"{w}.password_env",
                    "is not an environment variable name (write the variable's name, never the password)",
                )
            if password_env.startswith("EMBASSY_"):
                raise self.fail(f"{w}.password_env", f"{password_env} is embassy's own variable; use another name")
            if password_env in secrets and not secrets[password_env].startswith("a database password"):
                raise self.fail(f"{w}.password_env", f"{password_env} already holds {secrets[password_env]}")
            env["PGPASSWORD"] = self.secret(password_env, f"{w}.password_env")
        spec = PostgresSpec(database, host, port, user)
        return RegistrySpec(name, "postgres", None, (), tuple(sorted(env.items())), postgres=spec)

    def stores(self, value: Any) -> tuple[StoreSpec, ...]:
        if value is None:
            raise self.fail("[[stores]]", "at least one store is required; add a [[stores]] table")
        tables = self.array_of_tables(value, "stores")
        if not tables:
            raise self.fail("[[stores]]", "at least one store is required; add a [[stores]] table")
        out: list[StoreSpec] = []
        seen: set[str] = set()
        common = {"name", "kind", "jurisdiction", "object_lock_days", "request_timeout"}
        s3_keys = {"endpoint", "bucket", "region", "access_key_env", "secret_key_env", "mirror_bucket"}
        for i, t in enumerate(tables):
            w = f"stores[{i}]"
            # Typos first, so a misspelt `name` or `kind` is named as such rather than reported missing.
            named = f"{w} ({t['name']})" if isinstance(t.get("name"), str) else w
            self.known_keys(t, common | s3_keys | {"path", "mirror_path"}, named)
            name = self.name(self.get(t, "name", w, str, required_hint='; e.g. name = "lu"'), f"{w}.name")
            w = f"stores[{i}] ({name})"
            if name in seen:
                raise self.fail(f"{w}.name", f"store name {name!r} is used twice; each store needs its own name")
            seen.add(name)
            kind = self.get(t, "kind", w, str, required_hint='; "s3" or "filesystem"')
            if kind not in ("s3", "filesystem"):
                raise self.fail(f"{w}.kind", f'{kind!r} is not a store kind; use "s3" or "filesystem"')
            allowed = common | (s3_keys if kind == "s3" else {"path", "mirror_path"})
            for key in t:
                if key in (s3_keys | {"path", "mirror_path"}) and key not in allowed:
                    raise self.fail(f"{w}.{key}", f"does not apply to a {kind} store; remove it")
            self.known_keys(t, allowed, w)
            jurisdiction = self.get(t, "jurisdiction", w, str, "")
            if jurisdiction and not JURISDICTION_RE.match(jurisdiction):
                raise self.fail(
                    f"{w}.jurisdiction", f'{jurisdiction!r} is not an ISO 3166 code; use two capitals like "LU"'
                )
            lock = self.positive_int(self.get(t, "object_lock_days", w, int, 0), f"{w}.object_lock_days", 0, 36500)
            timeout = self.seconds(t, "request_timeout", w, 10.0)
            if kind == "filesystem":
                if lock:
                    raise self.fail(
                        f"{w}.object_lock_days",
                        "a filesystem store cannot lock objects; set it to 0 or use an s3 store with Object Lock",
                    )
                path = self.get(t, "path", w, str, required_hint="; the folder that holds the store")
                if not path:
                    raise self.fail(f"{w}.path", "must not be empty")
                mirror_path = self.get(t, "mirror_path", w, str, "")
                mirror = self.resolve(mirror_path) if mirror_path else None
                out.append(
                    StoreSpec(
                        name, "filesystem", jurisdiction, 0, timeout, path=self.resolve(path), mirror_path=mirror
                    )
                )
                continue
            endpoint = self.get(
                t, "endpoint", w, str, required_hint='; e.g. endpoint = "https://s3.eu-central-1.amazonaws.com"'
            )
            u = urlparse(endpoint)
            if u.scheme not in ("http", "https") or not u.netloc:
                raise self.fail(f"{w}.endpoint", f'{endpoint!r} must be an http(s) URL like "https://s3.example"')
            bucket = self.get(t, "bucket", w, str, required_hint='; e.g. bucket = "data-embassy"')
            if not BUCKET_RE.match(bucket):
                raise self.fail(f"{w}.bucket", f"{bucket!r} is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')")
            region = self.get(t, "region", w, str, "us-east-1")
            mirror_bucket = self.get(t, "mirror_bucket", w, str, "") or None
            if mirror_bucket is not None and (not BUCKET_RE.match(mirror_bucket) or mirror_bucket == bucket):
                raise self.fail(
                    f"{w}.mirror_bucket",
                    f"{mirror_bucket!r} must be a valid bucket name (3-63 of a-z, 0-9, '.', '-') other than the "
                    "store's own bucket",
                )
            creds = []
            for key in ("access_key_env", "secret_key_env"):
                env = self.get(
                    t,
                    key,
                    w,
                    str,
                    required_hint=f"; the name of the environment variable holding the {key[:-4].replace('_', ' ')}",
                )
                if not ENV_NAME_RE.match(env):
                    # The value is not echoed: someone may have pasted the secret itself here.
                    raise self.fail(
                        f"{w}.{key}",
                        "is not an environment variable name (write the variable's name, never the secret)",
                    )
                creds.append(self.secret(env, f"{w}.{key}"))
            out.append(
                StoreSpec(
                    name,
                    "s3",
                    jurisdiction,
                    lock,
                    timeout,
                    endpoint=endpoint.rstrip("/"),
                    bucket=bucket,
                    region=region,
                    credentials=S3Credentials(creds[0], creds[1]),
                    mirror_bucket=mirror_bucket,
                )
            )
        return tuple(out)

    def replication(
        self, t: dict[str, Any], mission: MissionConfig, stores: tuple[StoreSpec, ...]
    ) -> ReplicationConfig:
        w = "replication"
        self.known_keys(t, {"quorum", "interval", "keep", "rpo_alert", "full_every", "store_down_alert"}, w)
        home = mission.jurisdiction
        counting = [s for s in stores if not (home and s.jurisdiction == home)]
        if not counting:
            raise self.fail(
                "stores",
                f"every store is in the home jurisdiction {home}; a data embassy needs at least one store abroad "
                "(give a store another jurisdiction)",
            )
        quorum = self.get(t, "quorum", w, int, len(counting) // 2 + 1)
        if quorum < 1:
            raise self.fail(f"{w}.quorum", f"{quorum} is out of range; use at least 1")
        if quorum > len(counting):
            raise self.fail(
                f"{w}.quorum",
                f"{quorum} is more than the {len(counting)} store(s) abroad that count; lower it or add stores",
            )
        interval = self.duration(t, "interval", w, "15m")
        rpo_alert = self.duration(t, "rpo_alert", w, "") if "rpo_alert" in t else 0
        full_every = self.duration(t, "full_every", w, "1d", low=60)
        down_alert = self.duration(t, "store_down_alert", w, "15m")
        keep_t = self.table(t.get("keep", {}), f"{w}.keep")
        self.known_keys(keep_t, {"last", "daily", "weekly", "monthly"}, f"{w}.keep")
        defaults = KeepPolicy()
        values = {
            k: self.positive_int(
                self.get(keep_t, k, f"{w}.keep", int, getattr(defaults, k)), f"{w}.keep.{k}", 0, 100000
            )
            for k in ("last", "daily", "weekly", "monthly")
        }
        if not any(values.values()):
            raise self.fail(f"{w}.keep", "keeps no snapshot at all; set at least last = 1")
        return ReplicationConfig(quorum, interval, KeepPolicy(**values), rpo_alert, full_every, down_alert)

    def duration(self, t: Mapping[str, Any], key: str, where: str, default: str, low: int = MIN_INTERVAL) -> int:
        """A duration such as "5s", "15m" or "1h30m" (days, hours, minutes, seconds, in that order), at least ``low``."""
        text = self.get(t, key, where, str, default)
        seconds = parse_interval(text)
        if seconds is None:
            raise self.fail(f"{where}.{key}", f"{text!r} is not a duration; {DURATION_HINT}")
        if seconds < low:
            shortest = f'"{low}s"' if low < 60 else f'"{low // 60}m"'
            raise self.fail(f"{where}.{key}", f"{text!r} is shorter than {low} seconds; use at least {shortest}")
        return seconds


def _type_name(value: Any) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true/false",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _kind_name(kind: type) -> str:
    return {str: "a string", int: "an integer", list: "a list", bool: "true or false", dict: "a table"}[kind]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-") or "name"


def default_config_text() -> str:
    """The embedded default config that `embassy init` writes when none exists."""
    return (Path(__file__).parent / "default_config.toml").read_text(encoding="utf-8")
