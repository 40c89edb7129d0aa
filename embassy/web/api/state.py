"""The API sub-application's state and request keys."""

from dataclasses import dataclass

from aiohttp import web

from embassy.contact.service import ContactService
from embassy.staff.service import StaffDb
from embassy.staff.tokens import Principal


@dataclass(frozen=True, slots=True)
class ApiState:
    db: StaffDb
    contact: ContactService


API = web.AppKey("api", ApiState)
PRINCIPAL = web.RequestKey("api_principal", Principal)
