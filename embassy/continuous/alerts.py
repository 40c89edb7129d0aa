"""Alerts: when the copies abroad fall behind, somebody is told.

Four conditions raise an alert: a registry's last round did not meet the quorum (or failed), a
store has been unreachable longer than ``[replication] store_down_alert``, a registry's RPO is
above ``[replication] rpo_alert`` (for a registry dumped on its own schedule, ``every`` plus
``rpo_alert``: it is only as fresh as its last dump), and the last drill failed. Each raised alert
is an ERROR log line (and an INFO line when it clears), the gauge ``embassy_replication_alert``,
a banner in the staff area for admins (from the published document), and, with ``[contact]
duty_email`` and ``[smtp]`` set, one e-mail when it is raised, retried until it goes through.
The e-mail names the registry or store and the condition: never data, keys or credentials.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage

import aiosmtplib

from embassy.config import Config
from embassy.contact import notify
from embassy.continuous.state import Alert, ReplicationState

log = logging.getLogger("embassy.replication")


def evaluate(config: Config, state: ReplicationState, now: float) -> list[Alert]:
    """The alerts that hold now (an alert keeps the ``since`` of when it was first raised)."""
    rep = config.replication
    before = {a.key: a for a in state.alerts}
    found: list[Alert] = []

    def raise_(kind: str, subject: str, message: str) -> None:
        old = before.get(f"{kind}:{subject}")
        found.append(Alert(kind, subject, message, old.since if old else now))

    for spec in config.registries:
        if spec.name not in state.registries:
            continue
        reg = state.registries[spec.name]
        if reg.last_outcome in ("failed", "quorum-not-met"):
            raise_("quorum", spec.name, f"registry {spec.name}: quorum not met ({reg.last_error or 'no snapshot'})")
        limit = rep.rpo_alert if spec.kind in ("directory", "sqlite") else rep.every_seconds(spec) + rep.rpo_alert
        age = state.rpo(spec.name, now)
        if age > limit:
            raise_("rpo", spec.name, f"registry {spec.name}: RPO {age:.0f} s is above {limit} s")
    for name, health in state.stores.items():
        if health.down_since is not None and now - health.down_since > rep.store_down_alert_seconds:
            raise_("store_down", name, f"store {name}: unreachable for {now - health.down_since:.0f} s "
                                       f"({health.error or 'no answer'})")  # fmt: skip
    drill = state.last_drill
    if drill is not None and not drill.get("ok", True):
        raise_("drill", "drill", f"the last drill ({drill.get('time')}) failed: "
                                 f"{drill.get('passed')} of {drill.get('total')} restores passed")  # fmt: skip
    return found


def alert_message(config: Config, alert: Alert) -> EmailMessage:
    assert config.smtp is not None
    msg = EmailMessage()
    msg["From"] = config.smtp.sender
    msg["To"] = config.contact.duty_email
    msg["Subject"] = f"{config.mission.name}: replication alert ({alert.kind})"
    msg.set_content(
        f"{alert.message}\n\nRaised by the server's continuous replication. The staff area shows it to "
        f"admins until it clears: {config.server.public_url}/staff/\n"
    )
    return msg


class Alerter:
    """Turns each evaluation into log lines, the alert gauge and e-mails (sent once per raise)."""

    def __init__(self, config: Config, smtp_password: str | None) -> None:
        self.config = config
        self.password = smtp_password
        self.unmailed: dict[str, Alert] = {}

    @property
    def mails(self) -> bool:
        return self.config.smtp is not None and bool(self.config.contact.duty_email)

    def update(self, state: ReplicationState, current: list[Alert]) -> tuple[list[Alert], list[Alert]]:
        """Replace the state's alerts; returns (raised, cleared)."""
        before = {a.key for a in state.alerts}
        now_keys = {a.key for a in current}
        raised = [a for a in current if a.key not in before]
        cleared = [a for a in state.alerts if a.key not in now_keys]
        state.alerts = current
        for a in raised:
            log.error("replication alert: %s", a.message)
            if self.mails:
                self.unmailed[a.key] = a
        for a in cleared:
            log.info("replication alert cleared: %s", a.message)
            self.unmailed.pop(a.key, None)
        return raised, cleared

    async def send_mails(self) -> None:
        """Send the e-mail of every raised alert not yet sent; a failure is logged and retried later."""
        if not self.mails or self.config.smtp is None:
            return
        for key, alert in list(self.unmailed.items()):
            try:
                await notify.send(self.config.smtp, self.password, alert_message(self.config, alert))
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
                log.warning("alert e-mail to the duty officer failed (%s); trying again later", type(e).__name__)
                return
            del self.unmailed[key]
