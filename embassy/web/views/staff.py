"""The staff area and its JSON API: the routes exist now; signing in and publishing come with staff publishing."""

import json
from typing import Any

from aiohttp import web

from embassy import __version__
from embassy.web import i18n
from embassy.web.site import SITE

HTML = "text/html; charset=utf-8"
NO_STORE = {"Cache-Control": "no-store"}


def _staff_page(request: web.Request, closed: bool) -> bytes:
    site = request.app[SITE]
    lang = i18n.negotiate(request.headers.get("Accept-Language"), site.languages)
    w = i18n.words(lang)
    r = site.renderer
    frame = r.frame(lang, "", title=w["staff"], description=w["staff_intro"])
    frame["canonical"] = r.absolute("/staff/")
    frame["alternates"] = []
    frame["x_default"] = ""
    return r.render("staff.html", frame, closed=closed)


async def staff_home(request: web.Request) -> web.Response:
    return web.Response(
        body=_staff_page(request, False), headers={"Content-Type": HTML, **NO_STORE, "Vary": "Accept-Language"}
    )


async def staff_post(request: web.Request) -> web.Response:
    await request.read()  # bounded by client_max_size, then dropped: no password is looked at or kept
    return web.Response(status=503, body=_staff_page(request, True), headers={"Content-Type": HTML, **NO_STORE})


def openapi_document(public_url: str, mission: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{mission}: staff API",
            "version": __version__,
            "description": "The staff JSON API of the virtual mission. Publishing, inbox and analytics "
            "endpoints arrive with the staff area; every endpoint will need a staff session.",
        },
        "servers": [{"url": f"{public_url}/api/v1"}],
        "paths": {
            "/": {
                "get": {
                    "summary": "What this API is and where its description lives",
                    "operationId": "apiIndex",
                    "responses": {
                        "200": {
                            "description": "The API index",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Index"}}},
                        }
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "Index": {
                    "type": "object",
                    "required": ["name", "version", "openapi"],
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "openapi": {"type": "string", "format": "uri-reference"},
                    },
                },
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            }
        },
    }


async def api_index(request: web.Request) -> web.Response:
    site = request.app[SITE]
    body = {"name": f"{site.config.mission.name} staff API", "version": "v1", "openapi": "/api/v1/openapi.json"}
    return web.json_response(body, headers=NO_STORE)


async def api_openapi(request: web.Request) -> web.Response:
    site = request.app[SITE]
    doc = openapi_document(site.config.server.public_url, site.config.mission.name)
    return web.Response(
        text=json.dumps(doc, indent=2),
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=3600"},
    )
