"""The API sub-application, mounted at /api/v1/."""

from aiohttp import web

from embassy.contact.service import ContactService
from embassy.staff.service import StaffDb
from embassy.web.api.endpoints import setup_routes
from embassy.web.api.middleware import api_middleware
from embassy.web.api.state import API, ApiState


def create_api_app(db: StaffDb, contact: ContactService) -> web.Application:
    app = web.Application(middlewares=[api_middleware()])
    app[API] = ApiState(db, contact)
    setup_routes(app)
    return app
