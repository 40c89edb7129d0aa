"""``/api/v1/openapi.json``: generated from the endpoint table and the models, so neither can drift.

Each endpoint gives its path (and path parameters), query parameters, request body (a model, or an
image's bytes), the model of its answer with its status, and the errors it can answer with; the
schemas are pydantic's JSON Schemas of the models (OpenAPI 3.1 is JSON Schema).
"""

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from embassy import __version__
from embassy.web.api import models as m
from embassy.web.api.endpoints import ENDPOINTS, Endpoint

PATH_PARAMS: dict[str, dict[str, Any]] = {
    "id": {"type": "string", "pattern": r"^[0-9a-f]{12}$", "description": "The item's id"},
    "lang": {"type": "string", "pattern": r"^[a-z]{2,3}$", "description": "One of the mission's languages"},
}
CASE_ID = {"type": "string", "pattern": r"^[0-9a-f]{16}$", "description": "The case's id (from the inbox)"}
ERROR_TEXT = {
    400: "The request or its body is malformed",
    401: "No or a bad token",
    403: "The token's roles, or the two-person rule, do not allow this",
    404: "No such item, edition or case",
    409: "The edition is not in a state that allows this",
    413: "The body is too large",
    415: "The body is not of the type this endpoint reads",
    422: "A field is invalid; `field` names it",
    429: "Too many requests",
}
_PARAM = re.compile(r"{(\w+)}")


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(e: Endpoint) -> list[int]:
    codes = [400]
    if e.roles is not None:
        codes += [401, 403]
    if "{id}" in e.path:
        codes.append(404)
    if e.conflicts:
        codes.append(409)
    if e.request is not None or e.image_body:
        codes += [413, 415, 422]
    elif e.query:
        codes.append(422)
    return codes


def _operation(e: Endpoint, languages: tuple[str, ...]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": e.summary, "operationId": e.name.removeprefix("api_")}
    parameters = []
    for name in _PARAM.findall(e.path):
        path_schema = dict(CASE_ID if e.path.startswith("/cases/") else PATH_PARAMS[name])
        description = path_schema.pop("description")
        if name == "lang":
            path_schema = {"type": "string", "enum": list(languages)}
        parameters.append({"name": name, "in": "path", "required": True, "description": description,
                           "schema": path_schema})  # fmt: skip
    for q in e.query:
        schema: dict[str, Any] = {"type": "string"}
        if q.enum:
            schema["enum"] = list(q.enum)
        elif q.integer:
            schema = {"type": "integer", "minimum": 0, "maximum": 10**17}
        elif q.name == "lang":
            schema["enum"] = list(languages)
        parameters.append({"name": q.name, "in": "query", "required": False, "description": q.description,
                           "schema": schema})  # fmt: skip
    if parameters:
        op["parameters"] = parameters
    if e.request is not None:
        op["requestBody"] = {"required": e.request is not m.Empty,
                             "content": {"application/json": {"schema": _ref(e.request)}}}  # fmt: skip
    if e.image_body:
        binary = {"schema": {"type": "string", "format": "binary"}}
        op["requestBody"] = {"required": True, "content": {t: binary for t in ("image/jpeg", "image/png", "image/webp")}}
    if e.response is not None:
        responses: dict[str, Any] = {str(e.status): _json(e.response, "OK" if e.status == 200 else "Created")}
    else:
        responses = {"200": {"description": "This document", "content": {"application/json": {"schema": {"type": "object"}}}}}
    for code in _errors(e):
        responses[str(code)] = _json(m.Error, ERROR_TEXT[code])
    op["responses"] = responses
    if e.roles is not None:
        op["security"] = [{"bearer": []}]
        if e.roles:
            op["description"] = "Needs a token with one of the roles: " + ", ".join(sorted(e.roles)) + "."
    return op


def _schemas(languages: tuple[str, ...]) -> dict[str, Any]:
    requests = {e.request for e in ENDPOINTS if e.request is not None}
    responses = {e.response for e in ENDPOINTS if e.response is not None} | {m.Error}
    wanted = [(r, "validation") for r in sorted(requests, key=lambda c: c.__name__)]
    wanted += [(r, "serialization") for r in sorted(responses, key=lambda c: c.__name__)]
    _, top = models_json_schema(wanted, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
    schemas = dict(top.get("$defs", {}))
    for name, prop in (("NewItem", "lang"), ("NewEdition", "source")):  # the mission's languages, not any code
        _narrow(schemas[name]["properties"][prop], languages)
    return schemas


def _narrow(prop: dict[str, Any], languages: tuple[str, ...]) -> None:
    for option in prop.get("anyOf", [prop]):
        if option.get("type") == "string":
            option.pop("pattern", None)
            option["enum"] = list(languages)


def openapi_document(public_url: str, mission: str, languages: tuple[str, ...] = ("en",)) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for e in ENDPOINTS:
        paths.setdefault(e.path, {})[e.method.lower()] = _operation(e, languages)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{mission}: staff API",
            "version": __version__,
            "description": "The staff JSON API of the virtual mission. Send an API token (`embassy staff token`, or "
            "the staff area's API tokens page) as `Authorization: Bearer <token>`. Errors are "
            '`{"error": "..."}` (and `"field"` for an invalid one).',
        },
        "servers": [{"url": f"{public_url}/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": _schemas(languages),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
