"""The API's OpenAPI document: generated, complete, and what the live server does (schemathesis).

Schemathesis generates requests for every operation from the document (valid and invalid bodies,
parameters, ids) and sends them to a real server with a token holding every role; each answer must
be no 5xx, of a documented status and type, and match its schema. Examples are bounded per
operation so the module stays fast.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from aiohttp.web_urldispatcher import PrefixedSubAppResource
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from embassy.staff import accounts
from embassy.web.api.endpoints import ENDPOINTS
from embassy.web.api.openapi import openapi_document
from embassy.web.app import create_app
from web.conftest import PUBLIC_URL, ServerThread, SiteEnv, fetch
from web.publishing.conftest import token_for
from web.staff.staffkit import PASSWORD, cached_hash, close, conns

LANGUAGES = ("kk", "ru", "en")
DOCUMENT = openapi_document(PUBLIC_URL, "Test Virtual Mission", LANGUAGES)
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 12


@pytest.fixture(scope="module")
def fuzz_token(pub_env: SiteEnv) -> str:
    c = conns(pub_env.config.data_dir)
    accounts.create(c.mission, "fuzz.all", ["admin", "editor", "publisher"], cached_hash(PASSWORD), actor="test")
    close(c)
    return token_for(pub_env, "fuzz.all")


def test_every_route_is_in_the_document(pub_server: ServerThread, pub_env: SiteEnv) -> None:
    app = create_app(pub_env.config, pub_env.ring.serving_keys())
    api = next(r for r in app.router.resources() if isinstance(r, PrefixedSubAppResource) and r.canonical == "/api/v1")
    routes = {(route.method, route.resource.canonical.removeprefix("/api/v1")) for route in api._app.router.routes()}
    documented = {(method.upper(), path) for path, ops in DOCUMENT["paths"].items() for method in ops}
    assert {(m, p or "/") for m, p in routes if m != "HEAD"} == documented
    assert {e.name.removeprefix("api_") for e in ENDPOINTS} == {
        op["operationId"] for ops in DOCUMENT["paths"].values() for op in ops.values()}
    for path in ("/", "/me", "/staff", "/audit", "/items", "/items/{id}/editions/{lang}/publish"):
        assert path in DOCUMENT["paths"], path
    # the live document is this one, generated from the models and the route table
    live = json.loads(fetch(pub_server.url, "/api/v1/openapi.json").body)
    assert live == json.loads(json.dumps(DOCUMENT))
    publish = DOCUMENT["paths"]["/items/{id}/editions/{lang}/publish"]["post"]
    assert publish["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Publish"}
    assert set(DOCUMENT["components"]["schemas"]["Publish"]["properties"]) == {"at", "urgent_reason"}
    assert {"401", "403", "404", "409", "422"} <= set(publish["responses"])


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_live_api_matches_its_document(case: schemathesis.Case, pub_server: ServerThread, fuzz_token: str) -> None:
    case.call_and_validate(base_url=pub_server.url + "/api/v1", headers={"Authorization": f"Bearer {fuzz_token}"},
                           checks=CHECKS)  # fmt: skip
