"""What the public sends is nowhere in clear: not in the database or its WAL, not in any file of
the data folder, not in the server's log, not in its temporary files, not in any object of a real
backup in a SeaweedFS store abroad - after submissions in every channel, a follow-up and a reply."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import sys
from pathlib import Path

import aiohttp
from conftest import fresh_bucket, run_cli, s3_env, s3_store_toml
from dev_stores import DevStore

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from nacl.public import PrivateKey

from bench.contact import PASSPHRASE, Served, forms_of, make_mission, solve
from embassy.contact import reading
from keys.sealing import open_envelope

SETTINGS = "[contact]\npow_iterations = 1\npow_bits = 4\ncode_kdf_mib = 1\ncode_kdf_passes = 1\n"
CODE = '<p class="code" lang="en" dir="ltr"><strong>'


def word() -> str:
    return "w" + secrets.token_hex(6)


def everything_under(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


async def send_all(url: str, words: dict[str, str]) -> list[str]:
    codes = []
    async with aiohttp.ClientSession() as s:
        async def page() -> dict[str, tuple[str, str]]:
            async with s.get(f"{url}/en/contact") as r:
                return forms_of(await r.text())

        forms = await page()
        async with s.post(f"{url}/en/contact", data={  # no JavaScript: no proof of work
            "channel": "emergency", "token": forms["emergency"][1], "name": words["name"],
            "phone": words["phone"], "location": words["location"], "message": words["emergency"]}) as r:
            assert r.status == 201
            codes.append((await r.text()).split(CODE)[1].split("<")[0])
        forms = await page()
        data = aiohttp.FormData()
        for k, v in {"channel": "consular", "type": "passport", "token": forms["consular"][1],
                     "altcha": solve(forms["consular"][0]), "email": words["email"], "message": words["consular"]}.items():
            data.add_field(k, v)
        pdf = b"%PDF-1.4\n(" + words["pdf"].encode() + b")\n%%EOF\n"
        data.add_field("attachment", pdf, filename=words["filename"] + ".pdf", content_type="application/pdf")
        async with s.post(f"{url}/en/contact", data=data) as r:
            assert r.status == 201
            codes.append((await r.text()).split(CODE)[1].split("<")[0])
        forms = await page()
        async with s.post(f"{url}/en/contact", data={
            "channel": "general", "token": forms["general"][1], "altcha": solve(forms["general"][0]),
            "email": words["email2"], "message": words["general"]}) as r:
            assert r.status == 201
            codes.append((await r.text()).split(CODE)[1].split("<")[0])
        async with s.post(f"{url}/en/case", data={"code": codes[2]}) as r:
            token = (await r.text()).split('name="token" value="')[1].split('"')[0]
        async with s.post(f"{url}/en/case", data={"code": codes[2], "action": "followup", "token": token,
                                                 "message": words["followup"]}) as r:  # fmt: skip
            assert r.status == 201
    return codes


def test_no_word_the_public_sent_is_anywhere_in_clear(tmp_path: Path, seaweed: list[DevStore]) -> None:
    store = seaweed[0]
    bucket = fresh_bucket(store)
    tail = SETTINGS + '[[registries]]\nname = "mission-site"\nkind = "sqlite"\npath = "var/mission.db"\n' + \
        s3_store_toml("ch", store, bucket, "CH")
    private = make_mission(tmp_path, tail, ("mission-site",), s3_env(store))
    words = {k: word() for k in ("name", "location", "emergency", "email", "consular", "pdf", "filename", "email2",
                                 "general", "followup", "reply")}  # fmt: skip
    words["phone"] = "+7 7" + "".join(secrets.choice("0123456789") for _ in range(9))
    words["email"] += "@mail.example"
    words["email2"] += "@mail.example"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    served = Served(tmp_path, 2, env={**s3_env(store), "TMPDIR": str(tmp)})
    try:
        asyncio.run(send_all(served.url, words))
        conn = sqlite3.connect(tmp_path / "var" / "mission.db")
        case_id = conn.execute("SELECT id FROM contact_case WHERE channel = 'consular'").fetchone()[0]
        conn.close()
        from embassy.mission_db import connect

        mission = connect(tmp_path / "var" / "mission.db")
        reading.reply(mission, case_id, words["reply"], actor="olga")  # sealed to the code holder and the inbox
        mission.close()
        files = everything_under(tmp_path / "var")  # while serving: the WAL holds the newest pages
        assert any(name.endswith("mission.db-wal") for name in files)
        backup = run_cli("backup", cwd=tmp_path, env={**s3_env(store), "EMBASSY_PASSPHRASE": PASSPHRASE})
        assert backup.code == 0, backup.err
        temporary = everything_under(tmp)
    finally:
        assert served.stop() == 0
    objects = {}
    client = store.client()
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        objects[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    assert any("/packs/" in key for key in objects), sorted(objects)
    logs = {"serve output": served.output.encode(), "backup output": (backup.out + backup.err).encode()}
    places = {**files, **temporary, **{f"s3://{bucket}/{k}": v for k, v in objects.items()}, **logs}
    found = [(w, where) for w in words.values() for where, data in places.items() if w.encode() in data]
    assert found == []
    found_utf16 = [(w, where) for w in words.values() for where, data in files.items() if w.encode("utf-16-le") in data]
    assert found_utf16 == []
    # and the scan can fail: the words are there, sealed, for whoever holds the inbox key
    conn = sqlite3.connect(tmp_path / "var" / "mission.db")
    sealed = conn.execute("SELECT sealed FROM contact_message WHERE case_id = ? AND kind = 'inquiry'",
                          (case_id,)).fetchone()[0]  # fmt: skip
    conn.close()
    plain = open_envelope(bytes(sealed), PrivateKey(private), f"case:{case_id}:inquiry").decode()
    assert words["consular"] in plain and words["email"] in plain
