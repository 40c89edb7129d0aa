"""`embassy serve` mirrors by itself: once when it starts, again after a publication."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from conftest import PASSPHRASE
from web.conftest import fetch, make_site_env
from web.test_site_serve import free_port

from embassy.publishing.fields import Draft

NEWS = Draft("Consular hours during the holidays", "Shorter hours from 30 December.", "<p>10:00 to 14:00.</p>")


def test_serve_mirrors_at_start_and_after_a_publication(tmp_path: Path) -> None:
    site = make_site_env(tmp_path / "site", ("en", "ru"))
    with site.config_path.open("a", encoding="utf-8") as f:
        f.write('mirror_path = "var/mirror/lu"\n')
    folder = site.config.data_dir / "mirror" / "lu"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")}
    env["EMBASSY_PASSPHRASE"] = PASSPHRASE
    proc = subprocess.Popen(
        [sys.executable, "-m", "embassy", "serve", "--port", str(port), "--workers", "1"],
        cwd=site.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)  # type: ignore[union-attr]
    reader.start()

    def next_mirror_line() -> str:
        while True:
            line = lines.get(timeout=120)  # the supervisor's log: one line per target and round
            assert "mirror round failed" not in line and "mirror lu failed" not in line, line
            if "embassy.mirror INFO mirror lu:" in line:
                return line

    try:
        first = next_mirror_line()
        assert "0 unchanged, 0 deleted" in first
        assert (folder / "en" / "index.html").exists() and (folder / "embassy-mirror.json").exists()
        assert fetch(f"http://127.0.0.1:{port}", "/healthz").status == 200
        site.publish("news", "en", NEWS, slug="holiday-hours")
        second = next_mirror_line()
        uploaded = int(second.split("mirror lu: ")[1].split(" uploaded")[0])
        assert 2 < uploaded < 30, second  # the new page in both languages, its statement, the lists, feeds
        assert "Consular hours during the holidays" in (folder / "en" / "news" / "holiday-hours.html").read_text()
        assert (folder / "ru" / "news" / "holiday-hours.html").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        reader.join(10)
        proc.stderr.close()
    assert code == 0
