"""The staff sub-application, mounted at /staff/."""

import hashlib
from urllib.parse import urlsplit

from aiohttp import web

from embassy.config import Config
from embassy.contact.officer_session import InboxUnlock
from embassy.contact.service import ContactService
from embassy.staff.enrol import Enrolment
from embassy.staff.passkeys import relying_party
from embassy.staff.passwords import PasswordPool
from embassy.staff.service import StaffDb
from embassy.staff.signin import SignIn
from embassy.web.render import STATIC, Asset
from embassy.web.staff.middleware import staff_middleware
from embassy.web.staff.pages import STAFF, StaffState
from embassy.web.staff.routes import setup_routes


def staff_asset(name: str, content_type: str) -> Asset:
    body = (STATIC / name).read_bytes()
    return Asset(name, body, content_type, f"/staff/static/{name}?v={hashlib.sha256(body).hexdigest()[:10]}")


def create_staff_app(config: Config, db: StaffDb, pool: PasswordPool, contact: ContactService) -> web.Application:
    app = web.Application(middlewares=[staff_middleware()])
    unlock = InboxUnlock(db, pool)
    rp = relying_party(config.server.public_url, config.mission.name)
    public = urlsplit(config.server.public_url)
    origins = {f"{public.scheme}://{public.netloc}"} | ({rp.origin} if rp else set())
    app[STAFF] = StaffState(
        config=config,
        db=db,
        pool=pool,
        signin=SignIn(db, pool, rp, unlock),
        enrolment=Enrolment(db, pool, rp, config.mission.name),
        rp=rp,
        assets={
            "staff.js": staff_asset("staff.js", "text/javascript; charset=utf-8"),
            "staff.css": staff_asset("staff.css", "text/css; charset=utf-8"),
        },
        origins=frozenset(origins),
        unlock=unlock,
        contact=contact,
    )
    setup_routes(app)
    return app
