"""``/api/v1/openapi.json``: the API described from its endpoint table, so the two cannot drift."""

from typing import Any

from embassy import __version__
from embassy.web.api.endpoints import ENDPOINTS

ERROR = {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

SCHEMAS: dict[str, Any] = {
    "Index": {
        "type": "object",
        "required": ["name", "version", "openapi"],
        "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                       "openapi": {"type": "string", "format": "uri-reference"}},
    },
    "Me": {
        "type": "object",
        "required": ["name", "roles", "token"],
        "properties": {"name": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}},
                       "token": {"type": "string"}},
    },
    "Accounts": {
        "type": "object",
        "required": ["accounts"],
        "properties": {"accounts": {"type": "array", "items": {"type": "object", "required": [
            "name", "roles", "factors", "disabled", "last_sign_in"]}}},
    },
    "Audit": {
        "type": "object",
        "required": ["entries", "more"],
        "properties": {
            "entries": {"type": "array", "items": {"type": "object", "required": [
                "seq", "time", "actor", "action", "detail", "hash"], "properties": {
                "seq": {"type": "integer"}, "time": {"type": "string"}, "actor": {"type": "string"},
                "action": {"type": "string"}, "detail": {"type": "object"}, "hash": {"type": "string"}}}},
            "more": {"type": "boolean"},
        },
    },
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Inbox": {"type": "object", "required": ["cases"], "properties": {"cases": {"type": "array", "items": {
        "$ref": "#/components/schemas/Case"}}}},
    "Case": {"type": "object", "required": ["id", "channel", "type", "lang", "status", "received", "priority"],
             "properties": {"id": {"type": "string"}, "channel": {"type": "string", "enum": ["emergency", "consular", "general"]},
                            "type": {"type": "string"}, "lang": {"type": "string"},
                            "status": {"type": "string", "enum": ["new", "in_progress", "waiting", "closed"]},
                            "received": {"type": "string"}, "priority": {"type": "integer"}}},
}  # fmt: skip

RESPONSE_SCHEMA = {"api_index": "Index", "api_me": "Me", "api_staff": "Accounts", "api_audit": "Audit",
                   "api_inbox": "Inbox", "api_case": "Case", "api_case_reply": "Case", "api_case_status": "Case"}


def openapi_document(public_url: str, mission: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for e in ENDPOINTS:
        if e.name == "api_openapi":
            continue
        op: dict[str, Any] = {
            "summary": e.summary,
            "operationId": e.name.removeprefix("api_"),
            "responses": {"200": {"description": "OK", "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{RESPONSE_SCHEMA[e.name]}"}}}}},
        }  # fmt: skip
        if e.roles is not None:
            op["security"] = [{"bearer": []}]
            op["responses"].update({"401": ERROR, "403": ERROR})
        if e.name == "api_audit":
            op["parameters"] = [{"name": "after", "in": "query", "required": False,
                                 "schema": {"type": "integer", "minimum": 0}}]  # fmt: skip
            op["responses"]["400"] = ERROR
        if "{id}" in e.path:
            op["parameters"] = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
            op["responses"]["404"] = ERROR
        if e.method == "POST":
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
            op["responses"]["422"] = ERROR
        paths.setdefault(e.path, {})[e.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{mission}: staff API",
            "version": __version__,
            "description": "The staff JSON API of the virtual mission. Send an API token (`embassy staff token`, or "
            "the staff area's API tokens page) as `Authorization: Bearer <token>`.",
        },
        "servers": [{"url": f"{public_url}/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
