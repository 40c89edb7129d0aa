"""Reading a request body into its model, and answering with one: the API's only JSON in and out.

A body must be ``application/json`` (415 otherwise), at most :data:`MAX_JSON` bytes (413), JSON
(400), and valid for its model (422 naming the first field that is not, as
:class:`~embassy.publishing.errors.InvalidFieldError`, which the middleware answers).
"""

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from embassy.publishing.errors import InvalidFieldError

M = TypeVar("M", bound=BaseModel)
MAX_JSON = 512 * 1024  # a body of 100,000 characters in Cyrillic, escaped, with room to spare
NO_STORE = {"Cache-Control": "no-store"}


async def read_bytes(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    return await request.clone(client_max_size=limit).read()


async def read_json(request: web.Request, model: type[M]) -> M:
    raw = await read_bytes(request, MAX_JSON)
    if not raw.strip():
        raw = b"{}"
    elif request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="send the body as application/json")
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        first = e.errors()[0]
        if first["type"] == "json_invalid":
            raise web.HTTPBadRequest(reason="the body is not JSON") from e
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidFieldError(where, str(first["msg"])) from e


def answer(body: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(body.model_dump(mode="json"), status=status, headers=NO_STORE)
