"""What a visitor sends on each channel, checked; the case statuses and the queue's order.

Channels, in the order the contact page shows them and the staff queue serves them:
``emergency`` (a citizen in trouble abroad: priority 0, first in the queue), ``consular`` (a
service request of one of :data:`CONSULAR_TYPES`: priority 1) and ``general`` (priority 2).
Within a priority, the oldest case comes first.

The fields are text: ``name``, ``email``, ``phone``, ``location`` (emergency), ``message`` (the
only required one, with an e-mail or a phone number to answer to). They are sealed as one JSON
object, so nothing a visitor typed is ever kept in clear.
"""

import json
import re
from dataclasses import asdict, dataclass

from embassy.contact.errors import InvalidSubmissionError

CHANNELS = ("emergency", "consular", "general")
PRIORITY = {"emergency": 0, "consular": 1, "general": 2}
CONSULAR_TYPES = (
    "visa", "registration", "passport", "legalisation", "notarisation", "power_of_attorney", "pension_certificate",
    "other",
)  # fmt: skip
TYPES = {"emergency": ("emergency",), "consular": CONSULAR_TYPES, "general": ("inquiry",)}
STATUSES = ("new", "in_progress", "waiting", "closed")
LIMITS = {"name": 200, "email": 254, "phone": 40, "location": 200, "message": 8000}
EMAIL_RE = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]+\.[^@\s<>\".]{2,}$")
PHONE_RE = re.compile(r"^[+0-9 ()./-]{5,40}$")


@dataclass(frozen=True, slots=True)
class Submission:
    channel: str
    type: str
    name: str = ""
    email: str = ""
    phone: str = ""
    location: str = ""
    message: str = ""

    @property
    def priority(self) -> int:
        return PRIORITY[self.channel]

    def sealed_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True).encode()

    @classmethod
    def from_sealed_json(cls, data: bytes) -> "Submission":
        v = json.loads(data)
        return cls(**{k: str(v.get(k, "")) for k in ("channel", "type", "name", "email", "phone", "location", "message")})


def check_submission(channel: str, fields: dict[str, str]) -> Submission:
    """The submission these form fields make; raises :class:`InvalidSubmissionError` naming each
    field to correct (``missing``, ``too_long``, ``invalid``) - the form is shown again, filled in."""
    problems: dict[str, str] = {}
    if channel not in CHANNELS:
        raise InvalidSubmissionError({"channel": "invalid"})
    kind = fields.get("type", "") or TYPES[channel][0]
    if kind not in TYPES[channel]:
        problems["type"] = "invalid"
    values = {k: fields.get(k, "").strip() for k in LIMITS}
    for key, limit in LIMITS.items():
        if len(values[key]) > limit:
            problems[key] = "too_long"
    if not values["message"]:
        problems["message"] = "missing"
    if values["email"] and not EMAIL_RE.match(values["email"]) and "email" not in problems:
        problems["email"] = "invalid"
    if values["phone"] and not PHONE_RE.match(values["phone"]) and "phone" not in problems:
        problems["phone"] = "invalid"
    if not values["email"] and not values["phone"]:
        problems.setdefault("email", "no_reply_address")
    if problems:
        raise InvalidSubmissionError(problems)
    return Submission(channel, kind, **values)


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise InvalidSubmissionError({"status": "invalid"})
    return status
