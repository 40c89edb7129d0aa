"""`embassy keys status | split | recover | rotate` through the real command, as an operator runs them."""

from __future__ import annotations

import base64
import json
import re
import shutil
import stat
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import combinations, pairwise
from pathlib import Path

import pytest
from conftest import PASSPHRASE, CliResult, make_test_keyring, run_cli

from keys import KdfParams, Keyring
from keys.custody import BEGIN, END
from keys.derive import subkey

NEW_PASSPHRASE = "the recovered keyring's own passphrase"
REGISTRIES = ["population", "land-cadastre"]


@dataclass
class Mission:
    """A folder with a config and a low-cost keyring; the stores live outside it, as abroad."""

    root: Path
    stores: Path
    ring: Keyring
    env: dict[str, str] = field(default_factory=lambda: {"EMBASSY_PASSPHRASE": PASSPHRASE})

    @property
    def config(self) -> Path:
        return self.root / "embassy.toml"

    @property
    def keyring(self) -> Path:
        return self.root / "var" / "keyring"

    def cli(self, *args: str, env: dict[str, str] | None = None) -> CliResult:
        return run_cli(*args, "--config", str(self.config), env={**self.env, **(env or {})})

    def fresh_machine(self, folder: Path) -> Mission:
        """Another machine holding only the config (same stores), no keyring."""
        folder.mkdir(parents=True)
        shutil.copy(self.config, folder / "embassy.toml")
        return Mission(folder, self.stores, self.ring, {"EMBASSY_PASSPHRASE": NEW_PASSPHRASE})


def config_text(stores: Path) -> str:
    regs = "".join(
        f'[[registries]]\nname = "{r}"\nkind = "directory"\npath = "var/registries/{r}"\n' for r in REGISTRIES
    )
    fs = "".join(
        f'[[stores]]\nname = "{n}"\nkind = "filesystem"\npath = "{stores / n}"\njurisdiction = "{n.upper()}"\n'
        for n in ("lu", "ee")
    )
    return '[mission]\nname = "Test Mission"\njurisdiction = "KZ"\n' + regs + fs


def make_mission(root: Path, stores: Path | None = None) -> Mission:
    stores = stores or root.parent / f"{root.name}-stores"
    root.mkdir(parents=True)
    (root / "embassy.toml").write_text(config_text(stores), encoding="utf-8")
    ring = make_test_keyring(root / "var" / "keyring", REGISTRIES)
    return Mission(root, stores, ring)


def one_line_error(result: CliResult, code: int, *parts: str) -> str:
    assert result.code == code, (result.code, result.out, result.err)
    assert "Traceback" not in result.err + result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    for part in parts:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"
    return lines[0]


def parallel(jobs: Iterable[tuple[object, ...]], fn) -> list:  # type: ignore[no-untyped-def,type-arg]
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda job: fn(*job), jobs))


# -- opening the keyring --------------------------------------------------------------------------


def test_status_text(tmp_path: Path) -> None:
    m = make_mission(tmp_path / "m")
    result = m.cli("keys", "status")
    assert result.code == 0, result.err
    assert f"master key     {m.ring.master_key_id}" in result.out
    assert f"signing key    {m.ring.signing.id}  ed25519" in result.out
    assert m.ring.statement is not None
    assert f"statement key  {m.ring.statement.id}  ed25519" in result.out
    assert "inbox key      none yet: `embassy inbox init`" in result.out  # the inbox keeps its own key
    for reg in m.ring.registries:
        assert re.search(rf"data key +{reg.registry} +{reg.active.id} +active", result.out)
    assert "custody        not split: run `embassy keys split`" in result.out


def test_wrong_passphrase_is_exit_4_without_traceback(tmp_path: Path) -> None:
    m = make_mission(tmp_path / "m")
    for args in (["keys", "status"], ["keys", "status", "--json"], ["keys", "rotate"], ["init"]):
        result = m.cli(*args, env={"EMBASSY_PASSPHRASE": "not the passphrase at all"})
        line = one_line_error(result, 4, "wrong passphrase or damaged keyring", str(m.keyring))
        assert line.startswith("embassy: ")
        if "--json" in args:  # one JSON document on stdout for every exit code but 2
            assert json.loads(result.out) == {"error": line.removeprefix("embassy: ")}
        else:
            assert result.out == ""
    assert Keyring.unseal(m.keyring.read_bytes(), PASSPHRASE.encode()) == m.ring  # untouched


def _flip_b64_char(text: str, index: int) -> str:
    c = text[index]
    return text[:index] + ("B" if c != "B" else "C") + text[index + 1 :]


def _damage(sealed: bytes, how: str) -> bytes:
    doc = json.loads(sealed)
    if how == "truncated":
        return sealed[: len(sealed) // 2]
    if how == "empty":
        return b""
    if how == "edited salt (header)":
        salt = doc["header"]["kdf"]["salt"]
        doc["header"]["kdf"]["salt"] = _flip_b64_char(salt, 5)
    elif how == "edited nonce (header)":
        doc["header"]["nonce"] = _flip_b64_char(doc["header"]["nonce"], 3)
    elif how == "edited ciphertext":
        ct = doc["ciphertext"]
        doc["ciphertext"] = _flip_b64_char(ct, len(ct) // 2)
    elif how == "edited ciphertext tag":
        ct = doc["ciphertext"]
        doc["ciphertext"] = _flip_b64_char(ct, len(ct) - 8)
    else:
        raise AssertionError(how)
    edited = json.dumps(doc, indent=1).encode() + b"\n"
    assert len(edited) == len(sealed) and sum(a != b for a, b in zip(edited, sealed, strict=True)) == 1
    return edited


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "empty",
        "edited salt (header)",
        "edited nonce (header)",
        "edited ciphertext",
        "edited ciphertext tag",
    ],
)
def test_damaged_keyring_is_exit_4(tmp_path: Path, how: str) -> None:
    m = make_mission(tmp_path / "m")
    m.keyring.write_bytes(_damage(m.keyring.read_bytes(), how))
    result = m.cli("keys", "status")
    one_line_error(result, 4, "wrong passphrase or damaged keyring")
    assert result.out == ""


def test_passphrase_sources(tmp_path: Path) -> None:
    m = make_mission(tmp_path / "m")
    pfile = tmp_path / "passphrase"
    pfile.write_text(PASSPHRASE + "\n", encoding="utf-8")
    # The file wins over the variable, and its final newline is not part of the passphrase.
    result = m.cli("keys", "status", env={"EMBASSY_PASSPHRASE_FILE": str(pfile), "EMBASSY_PASSPHRASE": "wrong"})
    assert result.code == 0, result.err
    result = run_cli("keys", "status", "--config", str(m.config))  # no variable, no terminal
    one_line_error(result, 2, "no passphrase: set EMBASSY_PASSPHRASE_FILE")
    result = m.cli("keys", "status", env={"EMBASSY_PASSPHRASE_FILE": str(tmp_path / "missing")})
    one_line_error(result, 2, "EMBASSY_PASSPHRASE_FILE", "cannot read")


def test_missing_keyring_says_what_to_run(tmp_path: Path) -> None:
    m = make_mission(tmp_path / "m")
    m.keyring.unlink()
    one_line_error(m.cli("keys", "status"), 2, "no keyring; run `embassy init`, or `embassy keys recover`")


def test_status_json_has_the_contract_fields(tmp_path: Path) -> None:
    m = make_mission(tmp_path / "m")
    result = m.cli("keys", "status", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)  # exactly one JSON document on stdout
    contract = {"master_key_id", "signing_key_id", "statement_key_id", "inbox_key_id", "data_keys", "custody"}
    # docs/commands.md's fields, plus what the command documents beside them (algorithms, KDF, dates).
    assert set(doc) == contract | {"keyring", "created", "algorithms", "kdf", "bundle_seq", "statement_keys"}
    assert doc["master_key_id"] == m.ring.master_key_id
    assert doc["signing_key_id"] == m.ring.signing.id
    assert m.ring.statement is not None and doc["statement_key_id"] == m.ring.statement.id != m.ring.signing.id
    assert doc["statement_keys"] == [{"id": m.ring.statement.id, "created": m.ring.statement.created, "retired": None}]
    assert doc["inbox_key_id"] is None  # no inbox key yet, and never one in the keyring
    assert doc["custody"] is None
    assert [set(k) for k in doc["data_keys"]] == [{"registry", "id", "state", "created"}] * 2
    assert [(k["registry"], k["id"], k["state"]) for k in doc["data_keys"]] == [
        (r.registry, r.active.id, "active") for r in m.ring.registries
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", k["created"]) for k in doc["data_keys"])
    assert doc["kdf"] == {"algorithm": "argon2id", "opslimit": 1, "memlimit_mib": 0}


def test_rotate_keeps_kdf_params_mode_and_writes_atomically(tmp_path: Path) -> None:
    m = make_mission(tmp_path / "m")
    assert m.cli("init").code == 0
    before = m.keyring.stat()
    result = m.cli("keys", "rotate", "--json")
    assert result.code == 0, result.err
    after = m.keyring.stat()
    assert stat.S_IMODE(after.st_mode) == 0o600
    assert after.st_ino != before.st_ino  # a new file renamed over the old one, never rewritten in place
    assert [p.name for p in m.keyring.parent.iterdir() if p.name.startswith(".")] == []
    assert Keyring.sealed_params(m.keyring.read_bytes()) == KdfParams.low_cost_for_tests()
    ring = Keyring.unseal(m.keyring.read_bytes(), PASSPHRASE.encode())
    doc = json.loads(result.out)
    assert doc["stores"] == {"lu": "ok", "ee": "ok"}
    for reg, old in zip(ring.registries, m.ring.registries, strict=True):
        assert [k.state for k in reg.data_keys] == ["retired", "active"]
        assert reg.data_keys[0].id == old.active.id
        assert {"registry": reg.registry, "id": reg.active.id} in doc["data_keys"]
        assert ring.data_key(reg.registry, old.active.id) == m.ring.active_data_key(reg.registry)[1]
    # Every store holds the new bundle, which a fresh machine opens with the master key alone.
    for store in ("lu", "ee"):
        bundles = sorted((m.stores / store / "keys").iterdir())
        assert Keyring.from_bundle(ring.master_key, bundles[-1].read_bytes()) == ring


# -- custody: split and recover ------------------------------------------------------------------


@dataclass
class Split:
    mission: Mission
    shares: list[Path]
    out: CliResult
    other_split: list[Path]  # a second split of the same master key
    foreign: list[Path]  # shares of another mission's master key
    foreign_stores: Path  # stores holding the other mission's repository and bundle


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Split:
    root = tmp_path_factory.mktemp("custody")
    m = make_mission(root / "mission")
    assert m.cli("init").code == 0
    out = m.cli("keys", "split", "--threshold", "3", "--shares", "5", "--out", str(root / "shares"))
    assert out.code == 0, out.err
    second = m.cli("keys", "split", "--threshold", "3", "--shares", "5", "--out", str(root / "shares2"))
    assert second.code == 0, second.err
    other = make_mission(root / "other")
    assert other.cli("init").code == 0
    third = other.cli("keys", "split", "--threshold", "3", "--shares", "5", "--out", str(root / "foreign"))
    assert third.code == 0, third.err
    return Split(
        m,
        sorted((root / "shares").iterdir()),
        out,
        sorted((root / "shares2").iterdir()),
        sorted((root / "foreign").iterdir()),
        other.stores,
    )


def recover(machine: Mission, shares: Iterable[Path], *extra: str) -> CliResult:
    args = [a for s in shares for a in ("--share", str(s))]
    return machine.cli("keys", "recover", *args, *extra)


def test_split_writes_secret_files_and_says_so(split: Split) -> None:
    folder = split.shares[0].parent
    assert [p.name for p in split.shares] == [f"share-{n}-of-5.txt" for n in range(1, 6)]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for n, path in enumerate(split.shares, start=1):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        assert f"Custodian: {n} of 5 (any 3 shares recover the master key)" in text
        assert f"Master key id: {split.mission.ring.master_key_id}" in text
        assert BEGIN in text and END in text
    out = split.out.out
    assert f"wrote 5 share files to {folder} (mode 0600); any 3 recover master key" in out
    assert "THESE FILES ARE SECRETS. Hand each to its custodian" in out
    assert f"then delete the folder: rm -r {folder}" in out
    status = json.loads(split.mission.cli("keys", "status", "--json").out)
    assert status["custody"] == {"threshold": 3, "shares": 5}


def test_split_refuses_a_non_empty_folder_and_bad_counts(split: Split) -> None:
    m = split.mission
    folder = str(split.shares[0].parent)
    one_line_error(
        m.cli("keys", "split", "--threshold", "3", "--shares", "5", "--out", folder), 2, "not an empty folder"
    )
    for t, n in (("1", "5"), ("6", "5"), ("2", "17")):
        result = m.cli("keys", "split", "--threshold", t, "--shares", n, "--out", str(m.root / "x"))
        one_line_error(result, 2, f"--threshold {t} --shares {n}: need 2 <= M <= N <= 16")
    assert not (m.root / "x").exists()


def test_every_three_shares_recover_the_same_master_key(split: Split, tmp_path: Path) -> None:
    m = split.mission
    subsets = list(combinations(range(5), 3))
    machines = [m.fresh_machine(tmp_path / f"fresh-{''.join(map(str, s))}") for s in subsets]
    results = parallel(
        [(mach, [split.shares[i] for i in s], "--json") for mach, s in zip(machines, subsets, strict=True)],
        recover,
    )
    for s, mach, result in zip(subsets, machines, results, strict=True):
        assert result.code == 0, (s, result.err)
        doc = json.loads(result.out)
        assert doc["master_key_id"] == m.ring.master_key_id, s
        assert doc["registries"] == REGISTRIES
        assert doc["store"] == "lu"
        assert stat.S_IMODE(mach.keyring.stat().st_mode) == 0o600
        # Sealed with the default cost (the library's low-cost parameters are for tests only).
        assert Keyring.sealed_params(mach.keyring.read_bytes()) == KdfParams()
    # One recovered keyring, opened with its new passphrase, holds exactly the original keys.
    recovered = Keyring.unseal(machines[0].keyring.read_bytes(), NEW_PASSPHRASE.encode())
    original = Keyring.unseal(m.keyring.read_bytes(), PASSPHRASE.encode())
    assert recovered.master_key == original.master_key
    assert recovered.registries == original.registries
    assert recovered.signing == original.signing
    assert recovered.signing_key().encode() == original.signing_key().encode()


def test_four_shares_recover_too(split: Split, tmp_path: Path) -> None:
    result = recover(split.mission.fresh_machine(tmp_path / "fresh"), split.shares[1:], "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["master_key_id"] == split.mission.ring.master_key_id


def test_every_two_shares_fail(split: Split, tmp_path: Path) -> None:
    m = split.mission
    subsets = list(combinations(range(5), 2))
    machines = [m.fresh_machine(tmp_path / f"fresh-{''.join(map(str, s))}") for s in subsets]
    results = parallel(
        [(mach, [split.shares[i] for i in s]) for mach, s in zip(machines, subsets, strict=True)], recover
    )
    for mach, result in zip(machines, results, strict=True):
        one_line_error(result, 4, "2 share(s) given but this split needs 3")
        assert not mach.keyring.exists()


def _machine(split: Split, folder: Path) -> Mission:
    return split.mission.fresh_machine(folder)


def test_shares_of_two_splits(split: Split, tmp_path: Path) -> None:
    result = recover(_machine(split, tmp_path / "f"), [split.shares[0], split.shares[1], split.other_split[2]])
    one_line_error(result, 4, "the shares come from two different splits; use shares of one split only")


def test_shares_of_another_master_key(split: Split, tmp_path: Path) -> None:
    result = recover(_machine(split, tmp_path / "f"), [split.shares[0], split.shares[1], split.foreign[2]])
    one_line_error(result, 4, "the shares belong to different master keys")


@pytest.mark.parametrize("how", ["another word", "not a word", "a word left out"])
def test_mistyped_word(split: Split, tmp_path: Path, how: str) -> None:
    from shamir_mnemonic.wordlist import WORDLIST

    text = split.shares[1].read_text()
    line = text.split(BEGIN)[1].split(END)[0].strip().splitlines()[1]
    first = line.split()[0]  # e.g. " 7.academic"
    number, word = first.split(".")
    replacement = {
        "another word": f"{number}.{next(w for w in WORDLIST if w != word)}",
        "not a word": f"{number}.qwertz",
        "a word left out": "",
    }[how]
    typo = tmp_path / "typed-back.txt"
    typo.write_text(text.replace(first, replacement, 1))
    result = recover(_machine(split, tmp_path / "f"), [split.shares[0], typo, split.shares[2]])
    err = one_line_error(result, 4, f"{typo}: not a valid share (a word is mistyped or missing)")
    words = text.split(BEGIN)[1].split(END)[0].split()
    assert not any(f"{a.split('.')[1]} {b.split('.')[1]}" in err for a, b in pairwise(words))


def test_bundle_of_another_master_key_in_the_stores(split: Split, tmp_path: Path) -> None:
    """The stores a fresh machine is pointed at hold another mission's repository and bundle."""
    machine = _machine(split, tmp_path / "f")
    machine.config.write_text(config_text(split.foreign_stores), encoding="utf-8")
    result = recover(machine, split.shares[:3])
    assert result.code == 4 and "Traceback" not in result.err
    # A line per store as it is tried, then the error naming every store's problem.
    *notes, err = result.err.strip().splitlines()
    assert len(notes) == 2
    for store, note in zip(("lu", "ee"), notes, strict=True):
        assert re.fullmatch(
            rf"store {store}: no key bundle belongs to this master key \(keys/bundle-0000000003\.json: "
            r"key bundle belongs to master key [0-9a-f]{16}, not [0-9a-f]{16}\)",
            note,
        ), note
    assert err.startswith("embassy: no store gave a key bundle for this master key: ")
    assert "store lu: no key bundle belongs to this master key" in err
    assert "store ee: no key bundle belongs to this master key" in err
    assert "key bundle belongs to master key" in err
    assert not machine.keyring.exists()


def test_bundle_tampered_in_the_store(split: Split, tmp_path: Path) -> None:
    """A store that swaps in another sealed body (its own keys) is caught; recovery uses another store."""
    stores = tmp_path / "stores"
    shutil.copytree(split.mission.stores, stores)
    foreign = json.loads(Keyring.create().bundle())
    for bundle in (stores / "lu" / "keys").iterdir():
        doc = json.loads(bundle.read_bytes())
        doc["nonce"], doc["ciphertext"] = foreign["nonce"], foreign["ciphertext"]
        bundle.write_text(json.dumps(doc))
    machine = _machine(split, tmp_path / "f")
    machine.config.write_text(config_text(stores), encoding="utf-8")
    result = recover(machine, split.shares[:3], "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["store"] == "ee"
    assert "store lu: no key bundle belongs to this master key" in result.err
    # With only the tampered store, recovery fails.
    shutil.rmtree(stores / "ee")
    machine.keyring.unlink()
    result = recover(machine, split.shares[:3])
    assert result.code == 4
    err = result.err.strip().splitlines()[-1]
    assert err.startswith("embassy: no store gave a key bundle for this master key")
    assert "store ee: holds no key bundle" in err


def test_recover_refuses_an_existing_keyring(split: Split) -> None:
    m = split.mission
    before = m.keyring.read_bytes()
    one_line_error(recover(m, split.shares[:3]), 2, f"{m.keyring} already exists; move it away or pass --out")
    assert m.keyring.read_bytes() == before


def test_recover_unreadable_share_file(split: Split, tmp_path: Path) -> None:
    result = recover(_machine(split, tmp_path / "f"), [split.shares[0], tmp_path / "nope.txt"])
    one_line_error(result, 2, f"share file {tmp_path / 'nope.txt'}: cannot read")


# -- no command ever prints a secret ------------------------------------------------------------


def _encodings(secret: bytes) -> set[str]:
    forms = {secret.hex(), secret.hex().upper()}
    for enc in (base64.b64encode, base64.urlsafe_b64encode, base64.b32encode):
        text = enc(secret).decode()
        forms |= {text, text.rstrip("=")}
    # Any 8 bytes of it in a row, as hex: catches a key printed in part.
    forms |= {secret[i : i + 8].hex() for i in range(len(secret) - 7)}
    return forms


def test_no_command_prints_a_secret(tmp_path: Path) -> None:
    m = make_mission(tmp_path / "m")
    outputs: list[CliResult] = []

    def run(*args: str, env: dict[str, str] | None = None, machine: Mission = m) -> CliResult:
        result = machine.cli(*args, env=env)
        outputs.append(result)
        return result

    assert run("init").code == 0
    assert run("init", "--json").code == 0
    assert run("keys", "status").code == 0
    assert run("keys", "status", "--json").code == 0
    assert run("keys", "split", "--threshold", "2", "--shares", "3", "--out", str(tmp_path / "s1")).code == 0
    assert run("keys", "split", "--threshold", "2", "--shares", "3", "--out", str(tmp_path / "s2"), "--json").code == 0
    assert run("keys", "rotate").code == 0
    assert run("keys", "rotate", "--json").code == 0
    assert run("keys", "rotate", "--statement").code == 0
    assert run("keys", "rotate", "--statement", "--json").code == 0
    assert run("keys", "status").code == 0
    assert run("keys", "status", "--json").code == 0
    assert run("keys", "status", env={"EMBASSY_PASSPHRASE": "wrong passphrase here"}).code == 4
    shares = sorted((tmp_path / "s2").iterdir())
    fresh = m.fresh_machine(tmp_path / "fresh")
    assert run("keys", "recover", "--share", str(shares[0]), "--share", str(shares[2]), machine=fresh).code == 0
    assert run("keys", "recover", "--share", str(shares[0]), machine=m.fresh_machine(tmp_path / "f2")).code == 4

    ring = Keyring.unseal(m.keyring.read_bytes(), PASSPHRASE.encode())
    secrets: dict[str, bytes] = {
        "master key": ring.master_key,
        "signing key": ring.signing_key().encode(),
        "statement key": bytes(ring.statement_signing_key()),
        "first statement key": bytes(m.ring.statement_signing_key()),
        "passphrase": PASSPHRASE.encode(),
        "new passphrase": NEW_PASSPHRASE.encode(),
    }
    for purpose in ("wrap", "bundle-mac", "repo-mac", "registry-tag"):
        secrets[f"subkey {purpose}"] = subkey(ring.master_key, purpose)
    for reg in ring.registries:
        secrets[f"id key {reg.registry}"] = ring.id_key(reg.registry)
        assert len(reg.data_keys) == 3
        for key in reg.data_keys:
            secrets[f"data key {reg.registry}/{key.id}"] = ring.data_key(reg.registry, key.id)
    text = "\n".join(r.out + "\n" + r.err for r in outputs)
    assert ring.master_key_id in text  # the outputs were captured, and ids are printed
    for name, secret in secrets.items():
        for form in _encodings(secret):
            assert form not in text, f"{name} appears in a command's output"
    for share in [*sorted((tmp_path / "s1").iterdir()), *shares]:
        words = [w.split(".")[-1] for w in share.read_text().split(BEGIN)[1].split(END)[0].split()]
        for a, b in pairwise(words):
            assert f"{a} {b}" not in text, f"words of {share.name} appear in a command's output"
