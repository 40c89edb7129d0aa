"""Re-mirroring publishes only what changed and deletes what is gone; tampering is found and named;
one failing target does not stop the other; the continuous mode follows publications."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from web.conftest import make_site_env

from embassy.config import load_config
from embassy.contact.custody import serving_keys_with_inbox
from embassy.mirror.manifest import Manifest, entry_for
from embassy.mirror.paths import MANIFEST_NAME
from embassy.mirror.publish import Signed, publish
from embassy.mirror.render import MirrorFile, RenderedSite
from embassy.mirror.run import MirrorRound, mirror_loop, mirror_round
from embassy.mirror.targets import FolderTarget
from embassy.publishing.fields import Draft
from mirror.conftest import MirrorEnv

NEWS = Draft("A new consular office", "The mission opens a consular office online.", "<p>From Monday.</p>")


def test_remirroring_uploads_only_what_changed_and_deletes_what_is_gone(mirror_env: MirrorEnv) -> None:
    first = mirror_env.mirror()
    again = mirror_env.mirror()
    for name in ("abroad", "lu"):
        s = again["stores"][name]
        assert (s["uploaded"], s["unchanged"], s["deleted"]) == (0, first["files"], 0), s
        assert s["previous_manifest"] == "verified"
    # a page the mission never published (or no longer does), and a new publication
    mirror_env.client.put_object(Bucket=mirror_env.bucket, Key="en/pages/old-page.html", Body=b"<p>old</p>")
    (mirror_env.folder / "en" / "pages" / "old-page.html").write_bytes(b"<p>old</p>")
    mirror_env.site.publish("news", "en", NEWS, slug="consular-office-online")
    third = mirror_env.mirror()
    assert (
        third["files"] == first["files"] + 4
    )  # its page in each language (kk and ru show the English) and its statement
    for name in ("abroad", "lu"):
        s = third["stores"][name]
        assert s["deleted"] == 1 and 2 < s["uploaded"] < first["files"] // 3, s
    keys = mirror_env.objects()
    assert "en/news/consular-office-online.html" in keys and "en/pages/old-page.html" not in keys
    assert not (mirror_env.folder / "en" / "pages" / "old-page.html").exists()
    assert "A new consular office" in mirror_env.get("en/news/index.html")[0].decode()
    assert "A new consular office" in mirror_env.get("feed/en.atom")[0].decode()


def test_a_tampered_file_is_named_by_verify_and_healed_by_the_next_mirror(mirror_env: MirrorEnv) -> None:
    mirror_env.mirror()
    body, ctype = mirror_env.get("en/pages/visa.html")
    forged = body.replace(b"</h1>", b" - pay the fee to account 123</h1>", 1)
    mirror_env.client.put_object(Bucket=mirror_env.bucket, Key="en/pages/visa.html", Body=forged, ContentType=ctype)
    mirror_env.client.put_object(Bucket=mirror_env.bucket, Key="en/pages/pay-here.html", Body=b"<p>phish</p>")
    r = mirror_env.cli("mirror", "verify", "--store", "abroad")
    assert r.code == 4, r.err
    assert "abroad (bucket " in r.err and "en/pages/visa.html: altered (size differs)" in r.err
    assert "'en/pages/pay-here.html': not in the signed manifest" in r.err
    assert mirror_env.cli("mirror", "verify", "--store", "lu").code == 0  # the other store's copy is untouched
    healed = mirror_env.mirror("--store", "abroad")
    assert healed["stores"]["abroad"]["uploaded"] == 1 and healed["stores"]["abroad"]["deleted"] == 1
    assert mirror_env.cli("mirror", "verify", "--store", "abroad").code == 0
    assert mirror_env.get("en/pages/visa.html")[0] == body


def test_a_forged_manifest_is_refused_and_everything_is_published_again(mirror_env: MirrorEnv) -> None:
    first = mirror_env.mirror()
    doc = json.loads(mirror_env.get(MANIFEST_NAME)[0])
    doc["mirror"]["files"]["en/pages/visa.html"]["sha256"] = "0" * 64
    mirror_env.client.put_object(Bucket=mirror_env.bucket, Key=MANIFEST_NAME, Body=json.dumps(doc).encode())
    r = mirror_env.cli("mirror", "verify", "--store", "abroad", "--json")
    assert r.code == 4
    assert "the signature does not verify" in json.loads(r.out)["mirrors"]["abroad"]["error"]
    again = mirror_env.mirror("--store", "abroad")["stores"]["abroad"]
    assert again["previous_manifest"].startswith("not trusted: the signature does not verify")
    assert again["uploaded"] == first["files"]


def test_a_downloaded_copy_with_one_changed_byte_names_the_file(mirror_env: MirrorEnv, tmp_path: Path) -> None:
    mirror_env.mirror()
    copy = mirror_env.download(tmp_path / "copy")
    assert mirror_env.cli("mirror", "verify", str(copy)).code == 0
    statement = next((copy / "statements").iterdir())
    data = bytearray(statement.read_bytes())
    data[len(data) // 2] ^= 1
    statement.write_bytes(bytes(data))
    r = mirror_env.cli("mirror", "verify", str(copy))
    assert r.code == 4
    assert f"statements/{statement.name}: altered (SHA-256 differs)" in r.err


def test_one_failing_target_does_not_stop_the_other(mirror_env: MirrorEnv) -> None:
    text = mirror_env.site.config_path.read_text().replace(mirror_env.bucket, "t-no-such-mirror-bucket")
    mirror_env.site.config_path.write_text(text)
    r = mirror_env.cli("mirror", "--json")
    assert r.code == 3, r.err  # done but degraded
    doc = json.loads(r.out)
    assert doc["stores"]["lu"]["ok"] is True and doc["stores"]["lu"]["uploaded"] == doc["files"]
    assert doc["stores"]["abroad"]["ok"] is False
    assert "bucket t-no-such-mirror-bucket does not exist" in doc["stores"]["abroad"]["error"]


def test_no_mirror_target_is_a_usage_error(mirror_env: MirrorEnv) -> None:
    r = mirror_env.cli("mirror", "--store", "nowhere")
    assert r.code == 2 and "nowhere" in r.err


def test_a_file_no_longer_in_the_site_is_deleted_from_a_folder(tmp_path: Path) -> None:
    """What the previous signed manifest listed and the new one does not goes, and its folder if empty."""
    from nacl.signing import SigningKey

    from embassy.content.statements import TrustedKey
    from keys.derive import public_key_id

    key = SigningKey.generate()
    key_id = public_key_id(bytes(key.verify_key))
    keys = {key_id: TrustedKey(bytes(key.verify_key))}
    target = FolderTarget("lu", tmp_path / "m")

    def signed(files: dict[str, bytes]) -> Signed:
        site = RenderedSite({n: MirrorFile(b, "text/html; charset=utf-8", "/" + n) for n, b in files.items()})
        m = Manifest("M", "u", "2026-12-01T00:00:00Z", key_id,
                     {n: entry_for(b, "text/html; charset=utf-8") for n, b in files.items()})  # fmt: skip
        return Signed(site, m, m.sign(key))

    assert publish(target, signed({"en/index.html": b"a", "en/news/x.html": b"b"}), keys).uploaded == 2
    report = publish(target, signed({"en/index.html": b"a"}), keys)
    assert (report.ok, report.uploaded, report.unchanged, report.deleted) == (True, 0, 1, 1)
    assert not (tmp_path / "m" / "en" / "news").exists()
    assert sorted(target.names()) == ["embassy-mirror.json", "en/index.html"]


def test_the_continuous_mode_remirrors_after_a_publication(mirror_env: MirrorEnv) -> None:
    config = mirror_env.site.config
    keys = serving_keys_with_inbox(mirror_env.site.ring.serving_keys(), config.data_dir)

    async def run() -> list[MirrorRound]:
        rounds: asyncio.Queue[MirrorRound] = asyncio.Queue()
        stop = asyncio.Event()
        loop = asyncio.create_task(mirror_loop(config, keys, stop, rounds.put_nowait))
        try:
            first = await asyncio.wait_for(rounds.get(), 60)
            await asyncio.to_thread(mirror_env.site.publish, "news", "en", NEWS, slug="consular-office-online")
            second = await asyncio.wait_for(rounds.get(), 60)
        finally:
            stop.set()
            await asyncio.wait_for(loop, 60)
        return [first, second]

    first, second = asyncio.run(run())
    assert first.ok and second.ok
    assert {t.store for t in second.targets} == {"lu", "abroad"}
    for t in second.targets:
        assert 2 < t.uploaded < first.files // 3 and t.unchanged > 0
    assert (mirror_env.folder / "en" / "news" / "consular-office-online.html").exists()
    assert "en/news/consular-office-online.html" in mirror_env.objects()


def test_a_mission_without_content_yet_mirrors_what_it_has(tmp_path: Path) -> None:
    site = make_site_env(tmp_path / "site", ("en",), seed=False)
    with site.config_path.open("a", encoding="utf-8") as f:
        f.write('mirror_path = "var/mirror/lu"\n')
    config = load_config(site.config_path)
    keys = serving_keys_with_inbox(site.ring.serving_keys(), config.data_dir)
    done = asyncio.run(mirror_round(config, keys, config.stores))
    assert done.ok and "/en/" in done.skipped  # no home page yet: 404, left out, said
    folder = config.data_dir / "mirror" / "lu"
    assert (folder / "en" / "contact.html").exists() and (folder / ".well-known" / "embassy-keys.json").exists()
    assert not (folder / "en" / "index.html").exists()
