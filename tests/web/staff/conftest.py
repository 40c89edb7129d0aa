"""A real server per test module with a fresh mission (the staff tests change accounts and sessions)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from embassy.web.app import create_app
from web.conftest import METRICS_TOKEN, ServerThread, SiteEnv, make_site_env


@pytest.fixture(scope="module")
def staff_env(tmp_path_factory: pytest.TempPathFactory) -> SiteEnv:
    return make_site_env(tmp_path_factory.mktemp("staff"), languages=("kk", "ru", "en"),
                         server='trusted_proxies = ["127.0.0.1"]\n')  # fmt: skip


@pytest.fixture(scope="module")
def staff_server(staff_env: SiteEnv) -> Iterator[ServerThread]:
    with ServerThread(create_app(staff_env.config, staff_env.ring.serving_keys(), metrics_token=METRICS_TOKEN)) as s:
        yield s
