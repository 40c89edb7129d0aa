"""The contact channels' state in one serving process: the service, the form guard, the limits."""

import math
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from embassy.config import Config
from embassy.contact import attachments
from embassy.contact.guard import FormGuard, PowSettings
from embassy.contact.service import ContactService
from embassy.web.ratelimit import TokenBucketLimiter, Verdict
from keys.case_keys import CodeKdf

# A contact form with its attachments; every other form of the site stays at 64 KiB.
MAX_CONTACT_BODY = attachments.MAX_FILES * attachments.MAX_BYTES + 256 * 1024


@dataclass
class ContactLimits:
    """Token buckets shared by every worker (embassy/web/ratelimit.py), per address and site-wide."""

    address: TokenBucketLimiter  # submissions with a proof of work, per client address
    address_nojs: TokenBucketLimiter  # submissions without one, per client address
    site: TokenBucketLimiter  # every submission together
    site_nojs: TokenBucketLimiter
    lookups: TokenBucketLimiter  # tracking-code look-ups and follow-ups, per client address

    def close(self) -> None:
        for limiter in (self.address, self.address_nojs, self.site, self.site_nojs, self.lookups):
            limiter.close()


def _limiter(per: float, seconds: float, run: Path, name: str) -> TokenBucketLimiter:
    return TokenBucketLimiter(per / seconds, max(1, int(per)), run / f"ratelimit-{name}")


def contact_limits(config: Config) -> ContactLimits:
    c = config.contact
    run = config.data_dir / "run"
    return ContactLimits(
        address=_limiter(c.submissions_per_hour, 3600, run, "contact"),
        address_nojs=_limiter(c.nojs_per_hour, 3600, run, "contact-nojs"),
        site=_limiter(c.site_per_minute, 60, run, "contact-site"),
        site_nojs=_limiter(c.site_nojs_per_hour, 3600, run, "contact-site-nojs"),
        lookups=_limiter(c.lookups_per_minute, 60, run, "case-lookup"),
    )


def minutes(verdict: Verdict) -> str:
    return str(max(1, math.ceil(verdict.retry_after / 60)))


@dataclass
class ContactState:
    service: ContactService
    guard: FormGuard
    limits: ContactLimits
    pages: dict[tuple[str, int, bool], str] = field(default_factory=dict)  # the contact page, markers for its forms


CONTACT = web.AppKey("contact", ContactState)


def contact_state(config: Config, contact_key: bytes) -> ContactState:
    c = config.contact
    kdf = CodeKdf(opslimit=c.code_kdf_passes, memlimit=c.code_kdf_mib * 1024 * 1024)
    service = ContactService(config.data_dir, kdf, notify=bool(c.duty_email))
    return ContactState(service, FormGuard(contact_key, PowSettings(c.pow_iterations, c.pow_bits)), contact_limits(config))
