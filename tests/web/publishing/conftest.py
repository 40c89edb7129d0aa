"""A fresh mission and a real server for each publishing test module, with staff of every kind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from embassy.staff import accounts, tokens
from embassy.web.app import create_app
from web.conftest import METRICS_TOKEN, Resp, ServerThread, SiteEnv, make_site_env
from web.staff.staffkit import PASSWORD, Client, cached_hash, close, conns

STAFF = {"ed.writer": ["editor"], "pat.publisher": ["publisher"], "quinn.publisher": ["publisher"],
         "ada.admin": ["admin"]}  # fmt: skip


@pytest.fixture(scope="module")
def pub_env(tmp_path_factory: pytest.TempPathFactory) -> SiteEnv:
    env = make_site_env(tmp_path_factory.mktemp("publishing"), languages=("kk", "ru", "en"),
                        server='trusted_proxies = ["127.0.0.1"]\n')  # fmt: skip
    c = conns(env.config.data_dir)
    for name, roles in STAFF.items():
        accounts.create(c.mission, name, roles, cached_hash(PASSWORD), actor="test")
        accounts.set_password(c.mission, name, cached_hash(PASSWORD), actor="test")
    close(c)
    return env


@pytest.fixture(scope="module")
def pub_server(pub_env: SiteEnv) -> Iterator[ServerThread]:
    with ServerThread(create_app(pub_env.config, pub_env.ring.serving_keys(), metrics_token=METRICS_TOKEN)) as s:
        yield s


def token_for(env: SiteEnv, name: str) -> str:
    c = conns(env.config.data_dir)
    try:
        token, _ = tokens.create(c.mission, name, None, 1, actor="test")
    finally:
        close(c)
    return token


@dataclass
class Api:
    """The staff API as a script uses it: one token, JSON in and out."""

    base: str
    token: str

    def call(self, method: str, path: str, body: object = None, *, raw: bytes | None = None,
             content_type: str = "application/json") -> tuple[int, dict]:  # fmt: skip
        client = Client(self.base)
        headers = {"Authorization": f"Bearer {self.token}"}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = content_type
        r: Resp = client.request_raw(method, "/api/v1" + path, data, headers)
        assert (r.header("Content-Type") or "").startswith("application/json"), (r.status, r.body[:200])
        return r.status, json.loads(r.body)


@pytest.fixture(scope="module")
def apis(pub_env: SiteEnv, pub_server: ServerThread) -> dict[str, Api]:
    return {name: Api(pub_server.url, token_for(pub_env, name)) for name in STAFF}
