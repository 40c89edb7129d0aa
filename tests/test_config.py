"""embassy.toml: every mistake is refused by the real CLI with exit 2 and one line naming the file,
the key and the fix; defaults and relative paths are applied as docs/config.md says."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import PASSPHRASE, CliResult, make_test_keyring, run_cli

from embassy.config import load_config

MISSION = '[mission]\nname = "Test Mission"\njurisdiction = "KZ"\n'
FS_LU = '[[stores]]\nname = "lu"\nkind = "filesystem"\npath = "stores/lu"\njurisdiction = "LU"\n'
FS_EE = '[[stores]]\nname = "ee"\nkind = "filesystem"\npath = "stores/ee"\njurisdiction = "EE"\n'
S3_LU = (
    '[[stores]]\nname = "lu"\nkind = "s3"\nendpoint = "http://127.0.0.1:9"\nbucket = "embassy"\n'
    'jurisdiction = "LU"\naccess_key_env = "LU_ACCESS_KEY_FOR_TEST"\nsecret_key_env = "LU_SECRET_KEY_FOR_TEST"\n'
)
REG = '[[registries]]\nname = "population"\nkind = "directory"\npath = "regs/pop"\n'
DUMP = '[[registries]]\nname = "civil"\nkind = "command"\ncommand = ["pg_dump", "civil"]\n'

# name -> (config text, substrings the one error line must hold: the key and the fix)
MISTAKES: dict[str, tuple[str, list[str]]] = {
    "unknown top-level key": (
        MISSION + FS_LU + "[replicaton]\nquorum = 1\n",
        ["replicaton: unknown key", "did you mean 'replication'?"],
    ),
    "unknown mission key": (
        MISSION + 'langauges = ["en"]\n' + FS_LU,
        ["mission.langauges: unknown key", "did you mean 'languages'?"],
    ),
    "unknown store key": (
        MISSION + FS_LU + 'jurisdication = "LU"\n',
        ["stores[0] (lu).jurisdication: unknown key", "did you mean 'jurisdiction'?"],
    ),
    "misspelt store name key": (
        MISSION + '[[stores]]\nnmae = "lu"\nkind = "filesystem"\npath = "stores/lu"\n',
        ["stores[0].nmae: unknown key", "did you mean 'name'?"],
    ),
    "wrong type (port as string)": (
        MISSION + '[server]\nport = "8080"\n' + FS_LU,
        ["server.port", "must be an integer, not a string"],
    ),
    "wrong type (languages as string)": (
        '[mission]\nname = "M"\nlanguages = "en"\n' + FS_LU,
        ["mission.languages", "must be a list, not a string"],
    ),
    "wrong type (stores as table)": (
        MISSION + '[stores]\nname = "lu"\n',
        ["stores", "must be written as [[stores]] tables"],
    ),
    "missing [mission]": (FS_LU, ["[mission]", "missing required section", 'add [mission] with name = "..."']),
    "missing mission name": (
        '[mission]\nlanguages = ["en"]\n' + FS_LU,
        ["mission.name", "missing required key", "e.g. name ="],
    ),
    "missing stores": (MISSION, ["[[stores]]", "at least one store is required", "add a [[stores]] table"]),
    "missing registry kind": (
        MISSION + '[[registries]]\nname = "pop"\npath = "x"\n' + FS_LU,
        ["registries[0] (pop).kind", "missing required key", '"directory", "sqlite", "command"'],
    ),
    "duplicate registry name": (
        MISSION + REG + REG + FS_LU,
        ["registries[1] (population).name", "used twice", "each registry needs its own name"],
    ),
    "duplicate store name": (
        MISSION + FS_LU + FS_LU.replace("stores/lu", "stores/lu2"),
        ["stores[1] (lu).name", "used twice", "each store needs its own name"],
    ),
    "bad store name characters": (
        MISSION + FS_LU.replace('name = "lu"', 'name = "Lux_1"'),
        ["stores[0].name", "'Lux_1' may use only a-z, 0-9 and '-'", "e.g. 'lux-1'"],
    ),
    "bad registry name characters": (
        MISSION + REG.replace("population", "Pop Reg") + FS_LU,
        ["registries[0].name", "'Pop Reg' may use only a-z, 0-9 and '-'", "e.g. 'pop-reg'"],
    ),
    "missing env var for s3 credentials": (
        MISSION + S3_LU,
        ["stores[0] (lu).access_key_env", "environment variable LU_ACCESS_KEY_FOR_TEST is not set", "export it"],
    ),
    "s3 credential written in place of the variable name": (
        MISSION + S3_LU.replace("LU_ACCESS_KEY_FOR_TEST", "wJalrXUtnFEMI/K7MDENG+bPxRfiCY"),
        ["stores[0] (lu).access_key_env", "is not an environment variable name", "never the secret"],
    ),
    "quorum larger than the stores abroad": (
        MISSION + FS_LU + FS_EE + "[replication]\nquorum = 3\n",
        ["replication.quorum", "3 is more than the 2 store(s) abroad", "lower it or add stores"],
    ),
    "quorum counts only stores abroad": (
        MISSION + FS_LU + FS_EE.replace('"EE"', '"KZ"') + "[replication]\nquorum = 2\n",
        ["replication.quorum", "2 is more than the 1 store(s) abroad", "lower it or add stores"],
    ),
    "quorum zero": (MISSION + FS_LU + "[replication]\nquorum = 0\n", ["replication.quorum", "use at least 1"]),
    "all stores at home": (
        MISSION + FS_LU.replace('"LU"', '"KZ"'),
        ["stores:", "every store is in the home jurisdiction KZ", "give a store another jurisdiction"],
    ),
    "bad store kind": (
        MISSION + FS_LU.replace('kind = "filesystem"', 'kind = "ftp"'),
        ["stores[0] (lu).kind", "'ftp' is not a store kind", 'use "s3" or "filesystem"'],
    ),
    "bad registry kind": (
        MISSION + REG.replace('"directory"', '"mysql"') + FS_LU,
        ["registries[0] (population).kind", "'mysql' is not a registry kind", '"directory", "sqlite", "command" or "postgres"'],
    ),
    "filesystem store with object_lock_days": (
        MISSION + FS_LU + "object_lock_days = 30\n",
        ["stores[0] (lu).object_lock_days", "a filesystem store cannot lock objects", "set it to 0"],
    ),
    "s3 key on a filesystem store": (
        MISSION + FS_LU + 'bucket = "b"\n',
        ["stores[0] (lu).bucket", "does not apply to a filesystem store", "remove it"],
    ),
    "bad interval": (
        MISSION + FS_LU + '[replication]\ninterval = "15 minutes"\n',
        ["replication.interval", "'15 minutes' is not a duration", 'write e.g. "5s", "30s", "15m"'],
    ),
    "interval under five seconds": (
        MISSION + FS_LU + '[replication]\ninterval = "4s"\n',
        ["replication.interval", "'4s' is shorter than 5 seconds", 'use at least "5s"'],
    ),
    "interval of nothing": (
        MISSION + FS_LU + '[replication]\ninterval = "0s"\n',
        ["replication.interval", "'0s' is shorter than 5 seconds"],
    ),
    "seconds before minutes": (
        MISSION + FS_LU + '[replication]\ninterval = "5s1m"\n',
        ["replication.interval", "'5s1m' is not a duration", '"5s"'],
    ),
    "rpo alert not a duration": (
        MISSION + FS_LU + '[replication]\nrpo_alert = 30\n',
        ["replication.rpo_alert", "must be a string, not an integer"],
    ),
    "full re-read too often": (
        MISSION + FS_LU + '[replication]\nfull_every = "30s"\n',
        ["replication.full_every", "shorter than 60 seconds", 'use at least "1m"'],
    ),
    "registry every not a duration": (
        MISSION + FS_LU + '[[registries]]\nname = "civil"\nkind = "command"\ncommand = ["true"]\nevery = "hourly"\n',
        ["registries[0] (civil).every", "'hourly' is not a duration"],
    ),
    "log format unknown": (
        MISSION + FS_LU + '[server]\nlog_format = "xml"\n',
        ["server.log_format", "'xml' is not a log format", '"json"'],
    ),
    "bad port": (
        MISSION + "[server]\nport = 70000\n" + FS_LU,
        ["server.port", "70000 is out of range", "between 1 and 65535"],
    ),
    "bad language code": (
        '[mission]\nname = "M"\nlanguages = ["en", "English"]\n' + FS_LU,
        ["mission.languages", "'English' is not a language code", 'use codes like "kk", "ru", "en"'],
    ),
    "bad jurisdiction": (
        MISSION + FS_LU.replace('"LU"', '"Luxembourg"'),
        ["stores[0] (lu).jurisdiction", "'Luxembourg' is not an ISO 3166 code", 'two capitals like "LU"'],
    ),
    "bad trusted_proxies": (
        MISSION + '[server]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/33"]\n' + FS_LU,
        ["server.trusted_proxies", "'10.0.0.0/33' is not an IP address or network", '"10.0.0.0/8"'],
    ),
    "timeout as a string": (
        MISSION + '[server]\nheader_timeout = "10s"\n' + FS_LU,
        ["server.header_timeout", "must be a number of seconds, not a string"],
    ),
    "timeout out of range": (
        MISSION + "[server]\nkeepalive_timeout = 0\n" + FS_LU,
        ["server.keepalive_timeout", "0 is out of range", "above 0, at most 3600"],
    ),
    "negative search limit": (
        MISSION + "[server]\nsearch_per_minute = -1\n" + FS_LU,
        ["server.search_per_minute", "-1 is out of range", "between 0 and 1000000"],
    ),
    "bad public_url": (
        MISSION + '[server]\npublic_url = "mission.example"\n' + FS_LU,
        ["server.public_url", "must be an absolute http(s) URL"],
    ),
    "bad keep": (
        MISSION + FS_LU + "[replication]\nkeep = { last = 10, dayly = 3 }\n",
        ["replication.keep.dayly: unknown key", "did you mean 'daily'?"],
    ),
    "invalid TOML": (MISSION + "[[stores]\nname = 'lu'\n", ["not valid TOML", "line 4"]),
    "dump command given a store's secret": (
        MISSION + DUMP + 'env = ["PGPASSWORD", "LU_SECRET_KEY_FOR_TEST"]\n' + S3_LU,
        [
            "registries[0] (civil).env",
            "LU_SECRET_KEY_FOR_TEST holds a store's credential (stores[0].secret_key_env)",
            "never passed to a dump command; remove it",
        ],
    ),
    "dump command given the passphrase": (
        MISSION + DUMP + 'env = ["EMBASSY_PASSPHRASE"]\n' + FS_LU,
        ["registries[0] (civil).env", "EMBASSY_PASSPHRASE is embassy's own variable", "remove it"],
    ),
    "dump command given a value for a name": (
        MISSION + DUMP + 'env = ["PGPASSWORD", "PGPASSWORD=hunter2-secret"]\n' + FS_LU,
        ["registries[0] (civil).env", "entry 2 is not an environment variable name", 'names like "PGPASSWORD"'],
    ),
    "env on a directory registry": (
        MISSION + REG + 'env = ["PGPASSWORD"]\n' + FS_LU,
        ["registries[0] (population).env", "only a command or postgres registry's dump gets variables"],
    ),
    "mirror_bucket on a filesystem store": (
        MISSION + FS_LU + 'mirror_bucket = "mirror"\n',
        ["stores[0] (lu).mirror_bucket", "does not apply to a filesystem store; remove it"],
    ),
    "mirror_path on an s3 store": (
        MISSION + S3_LU + 'mirror_path = "mirror/lu"\n',
        ["stores[0] (lu).mirror_path", "does not apply to a s3 store; remove it"],
    ),
    "mirror_bucket the store's own bucket": (
        MISSION + S3_LU + 'mirror_bucket = "embassy"\n',
        ["stores[0] (lu).mirror_bucket", "other than the store's own bucket"],
    ),
}


def _run_mistake(folder: Path, text: str) -> CliResult:
    folder.mkdir()
    config = folder / "mission.toml"
    config.write_text(text, encoding="utf-8")
    return run_cli("--config", str(config), "keys", "status", env={"EMBASSY_PASSPHRASE": PASSPHRASE})


@pytest.fixture(scope="module")
def mistake_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CliResult]:
    """Every mistake through the real CLI, two at a time (the machine has two cores)."""
    root = tmp_path_factory.mktemp("config-mistakes")
    with ThreadPoolExecutor(2) as pool:
        futures = {
            name: pool.submit(_run_mistake, root / f"case{i}", text)
            for i, (name, (text, _)) in enumerate(MISTAKES.items())
        }
        return {name: f.result() for name, f in futures.items()}


def test_more_than_twelve_kinds_of_mistake() -> None:
    assert len(MISTAKES) >= 12


@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistake_is_one_line_naming_file_key_and_fix(name: str, mistake_results: dict[str, CliResult]) -> None:
    result = mistake_results[name]
    expected = MISTAKES[name][1]
    assert result.code == 2, (result.code, result.err)
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    assert lines[0].startswith("embassy: mission.toml: "), lines[0]
    for part in expected:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"


def test_credential_value_is_not_echoed(mistake_results: dict[str, CliResult]) -> None:
    result = mistake_results["s3 credential written in place of the variable name"]
    assert "wJalrXUtnFEMI" not in result.err
    assert "hunter2" not in mistake_results["dump command given a value for a name"].err


def test_missing_config_file_says_how_to_get_one(tmp_path: Path) -> None:
    result = run_cli("keys", "status", cwd=tmp_path, env={"EMBASSY_PASSPHRASE": PASSPHRASE})
    assert result.code == 2
    assert "embassy.toml: config file not found; run `embassy init`" in result.err
    assert not (tmp_path / "embassy.toml").exists()


# -- where the config comes from -----------------------------------------------------------------


@pytest.fixture
def named_configs(tmp_path: Path) -> tuple[Path, Path]:
    """Two broken configs whose errors tell which one was read."""
    a = tmp_path / "alpha.toml"
    a.write_text(MISSION + FS_LU + "[server]\nport = 0\n", encoding="utf-8")
    b = tmp_path / "beta.toml"
    b.write_text(MISSION + FS_LU + "[server]\nport = 0\n", encoding="utf-8")
    return a, b


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "{a}", "keys", "status"],
        ["keys", "--config", "{a}", "status"],
        ["keys", "status", "--config", "{a}"],
        ["keys", "status", "--json", "--config={a}"],
    ],
    ids=["before-command", "between-words", "after-command", "after-options"],
)
def test_config_option_anywhere(argv: list[str], named_configs: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = named_configs
    args = [x.format(a=a) for x in argv]
    result = run_cli(*args, cwd=tmp_path, env={"EMBASSY_CONFIG": str(b)})
    assert result.code == 2
    assert result.err.startswith("embassy: alpha.toml: server.port: 0 is out of range"), result.err


def test_embassy_config_variable(named_configs: tuple[Path, Path], tmp_path: Path) -> None:
    _, b = named_configs
    (tmp_path / "embassy.toml").write_text("not toml at all [", encoding="utf-8")
    result = run_cli("keys", "status", cwd=tmp_path, env={"EMBASSY_CONFIG": str(b)})
    assert result.code == 2
    assert result.err.startswith("embassy: beta.toml: server.port"), result.err


# -- positive: relative paths and defaults --------------------------------------------------------


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    conf_dir = tmp_path / "conf"
    elsewhere = tmp_path / "elsewhere"
    conf_dir.mkdir()
    elsewhere.mkdir()
    (conf_dir / "embassy.toml").write_text(
        MISSION + 'data_dir = "state"\n' + REG + FS_LU + FS_EE.replace('"stores/ee"', '"../abroad/ee"'),
        encoding="utf-8",
    )
    ring = make_test_keyring(conf_dir / "state" / "keyring", ["population"])

    config = load_config(conf_dir / "embassy.toml", {})
    assert config.data_dir == conf_dir.resolve() / "state"
    assert config.registry("population").path == conf_dir.resolve() / "regs" / "pop"
    assert config.store("ee").path is not None
    assert config.store("ee").path.resolve() == tmp_path.resolve() / "abroad" / "ee"

    # The real command, run from another folder with a relative --config, finds the same places.
    env = {"EMBASSY_PASSPHRASE": PASSPHRASE}
    result = run_cli("init", "--json", "--config", "../conf/embassy.toml", cwd=elsewhere, env=env)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["master_key_id"] == ring.master_key_id
    assert doc["created_keyring"] is False
    assert Path(doc["keyring"]) == (conf_dir / "state" / "keyring").resolve()
    assert (conf_dir / "stores" / "lu" / "embassy-repo.json").is_file()
    assert (tmp_path / "abroad" / "ee" / "embassy-repo.json").is_file()
    assert list(elsewhere.iterdir()) == []


def test_defaults_applied(tmp_path: Path) -> None:
    path = tmp_path / "embassy.toml"
    path.write_text(
        '[mission]\nname = "  Minimal  "\njurisdiction = "KZ"\n'
        + FS_LU
        + FS_EE
        + FS_LU.replace('"lu"', '"lv"').replace('"LU"', '"LV"')
        + FS_LU.replace('"lu"', '"home"').replace('"LU"', '"KZ"')
        + S3_LU.replace('"lu"', '"ch"').replace('"LU"', '"CH"'),
        encoding="utf-8",
    )
    env = {"LU_ACCESS_KEY_FOR_TEST": "ak", "LU_SECRET_KEY_FOR_TEST": "sk"}
    config = load_config(path, env)
    m = config.mission
    assert (m.name, m.languages, m.fallback_language, m.jurisdiction) == ("Minimal", ("en",), "en", "KZ")
    assert m.data_dir == tmp_path.resolve() / "var"
    assert config.keyring_path == tmp_path.resolve() / "var" / "keyring"
    s = config.server
    assert (s.host, s.port, s.public_url, s.trusted_proxies, s.metrics_token_env) == (
        "127.0.0.1",
        8080,
        "http://127.0.0.1:8080",
        (),
        None,
    )
    assert (s.header_timeout, s.keepalive_timeout, s.body_timeout, s.search_per_minute) == (10.0, 75.0, 30.0, 60)
    assert config.registries == ()
    # four stores abroad (lu, ee, lv, ch), one at home: the default quorum is a majority of four
    assert [st.name for st in config.stores] == ["lu", "ee", "lv", "home", "ch"]
    assert not config.counts_for_quorum(config.store("home"))
    assert config.replication.quorum == 3
    assert config.replication.interval_seconds == 15 * 60
    assert (config.replication.rpo_alert, config.replication.full_every_seconds) == (45 * 60, 86400)
    assert (config.replication.store_down_alert_seconds, s.log_format) == (900, "text")
    keep = config.replication.keep
    assert (keep.last, keep.daily, keep.weekly, keep.monthly) == (10, 14, 8, 12)
    ch = config.store("ch")
    assert (ch.region, ch.object_lock_days, ch.endpoint, ch.bucket) == ("us-east-1", 0, "http://127.0.0.1:9", "embassy")
    assert ch.credentials is not None and (ch.credentials.access_key, ch.credentials.secret_key) == ("ak", "sk")
    assert config.store("lu").jurisdiction == "LU" and config.store("lu").object_lock_days == 0


def test_explicit_values_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "embassy.toml"
    path.write_text(
        '[mission]\nname = "M"\nlanguages = ["kk", "ru", "en"]\ndata_dir = "/srv/embassy"\n'
        '[server]\nhost = "::1"\nport = 9000\ntrusted_proxies = ["10.0.0.0/8"]\nheader_timeout = 2.5\n'
        "keepalive_timeout = 20\nbody_timeout = 5\nsearch_per_minute = 0\n"
        + FS_LU
        + FS_EE
        + '[replication]\nquorum = 1\ninterval = "1h30m"\nkeep = { last = 3, daily = 0, weekly = 0, monthly = 0 }\n',
        encoding="utf-8",
    )
    config = load_config(path, {})
    assert config.mission.languages == ("kk", "ru", "en") and config.mission.fallback_language == "kk"
    assert config.data_dir == Path("/srv/embassy")
    assert config.server.public_url == "http://[::1]:9000"
    s = config.server
    assert (s.header_timeout, s.keepalive_timeout, s.body_timeout, s.search_per_minute) == (2.5, 20.0, 5.0, 0)
    assert config.replication.quorum == 1
    assert config.replication.interval_seconds == 90 * 60
    assert config.replication.keep.last == 3


def test_default_config_written_by_init_is_valid(tmp_path: Path) -> None:
    from embassy.config import default_config_text

    path = tmp_path / "embassy.toml"
    path.write_text(default_config_text(), encoding="utf-8")
    config = load_config(path, {})
    assert [s.name for s in config.stores] == ["lu", "ee"]
    assert config.replication.quorum == 2
    assert config.mission.languages == ("kk", "ru", "en")


def test_mirror_targets_are_read_and_a_mirror_path_resolves_against_the_config_folder(tmp_path: Path) -> None:
    path = tmp_path / "embassy.toml"
    path.write_text(MISSION + FS_LU + 'mirror_path = "mirror/lu"\n' + S3_LU.replace('"lu"', '"de"') + 'mirror_bucket = "mission-mirror"\n')
    config = load_config(path, {"LU_ACCESS_KEY_FOR_TEST": "a", "LU_SECRET_KEY_FOR_TEST": "b"})
    assert config.store("lu").mirror_path == tmp_path / "mirror" / "lu"
    assert config.store("de").mirror_bucket == "mission-mirror"
    assert config.store("de").mirror_path is None and config.store("lu").mirror_bucket is None


def test_continuous_mode_down_to_five_seconds_with_each_registry_on_its_schedule(tmp_path: Path) -> None:
    path = tmp_path / "embassy.toml"
    path.write_text(
        '[mission]\nname = "M"\n[server]\nlog_format = "json"\n'
        '[[registries]]\nname = "files"\nkind = "directory"\npath = "files"\n'
        '[[registries]]\nname = "db"\nkind = "sqlite"\npath = "db.sqlite"\nevery = "1m"\n'
        '[[registries]]\nname = "civil"\nkind = "command"\ncommand = ["true"]\n'
        '[[registries]]\nname = "often"\nkind = "command"\ncommand = ["true"]\nevery = "10s"\n'
        + FS_LU
        + '[replication]\ninterval = "5s"\nrpo_alert = "1m30s"\nfull_every = "12h"\nstore_down_alert = "2m"\n',
        encoding="utf-8",
    )
    config = load_config(path, {})
    r = config.replication
    assert (r.interval_seconds, r.rpo_alert, r.full_every_seconds, r.store_down_alert_seconds) == (5, 90, 43200, 120)
    assert [r.every_seconds(reg) for reg in config.registries] == [5, 60, 3600, 10]
    assert config.server.log_format == "json"
    path.write_text(path.read_text().replace('rpo_alert = "1m30s"\n', ""), encoding="utf-8")
    assert load_config(path, {}).replication.rpo_alert == 15
