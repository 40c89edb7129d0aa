"""One mirror round (render, sign, publish to every target), and the continuous mode that runs a
round after every change of the published content, inside ``embassy serve``'s supervisor."""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from embassy.config import Config
from embassy.content.public_keys import trusted
from embassy.content.version import ContentVersion, version_path
from embassy.mirror.errors import MirrorError
from embassy.mirror.publish import TargetReport, publish_all, sign_mirror
from embassy.mirror.render import render_site
from embassy.mirror.targets import MirrorTarget, mirror_target
from keys.statement_keys import ServingKeys
from replication.spec import StoreSpec

log = logging.getLogger("embassy.mirror")

POLL_SECONDS = 2.0  # how often the continuous mode looks at the content version (a read from memory)
SETTLE_SECONDS = 2.0  # after a change, wait this long for the next (a burst of publications is one round)
RETRY_SECONDS = 60.0  # after a round in which some target failed


class NoTargetError(MirrorError):
    """No store (of those named) has a mirror target configured."""


@dataclass(frozen=True, slots=True)
class MirrorRound:
    files: int
    bytes: int
    skipped: list[str]
    targets: list[TargetReport]

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.targets)


def targets_of(stores: Sequence[StoreSpec]) -> list[MirrorTarget]:
    return [t for s in stores if (t := mirror_target(s)) is not None]


async def mirror_round(
    config: Config, keys: ServingKeys, stores: Sequence[StoreSpec], *, full: bool = False
) -> MirrorRound:
    """Render the site once and publish it to the mirror target of each of ``stores``."""
    targets = targets_of(stores)
    if not targets:
        names = ", ".join(s.name for s in stores)
        raise NoTargetError(
            f"no mirror target among the stores {names}: set mirror_bucket (s3) or mirror_path (filesystem) "
            "in a [[stores]] table"
        )
    try:
        site = await render_site(config, keys)
        signed = await asyncio.to_thread(
            sign_mirror, site, config.mission.name, config.server.public_url,
            keys.statement_signing_key(), keys.statement_key_id,
        )  # fmt: skip
        reports = await publish_all(targets, signed, trusted(keys.statement_keys), full)
    finally:
        for t in targets:
            t.close()
    size = sum(e.size for e in signed.manifest.files.values())
    return MirrorRound(len(signed.manifest.files), size, site.skipped, reports)


async def mirror_loop(
    config: Config, keys: ServingKeys, stop: asyncio.Event, on_round: Callable[[MirrorRound], None] | None = None
) -> None:
    """Until ``stop``: mirror once at start, then again whenever the content version moves (a
    publication, a withdrawal, an alert's expiry). Only what changed is uploaded (the previous
    signed manifest says what a target holds). Never raises for a failed round; does nothing when
    no store has a mirror target. ``on_round`` is told of every finished round."""
    if not targets_of(config.stores):
        return
    version = ContentVersion(version_path(config.data_dir))
    try:
        seen = -1
        while not stop.is_set():
            current = version.current()
            if current != seen:
                with contextlib.suppress(TimeoutError):  # let a burst of changes settle first
                    await asyncio.wait_for(stop.wait(), timeout=SETTLE_SECONDS if seen >= 0 else 0)
                if stop.is_set():
                    break
                current = version.current()
                if await _round(config, keys, on_round):
                    seen = current
                else:  # tried again after a while (only what the failed target lacks is uploaded then)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=RETRY_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=POLL_SECONDS)
    finally:
        version.close()


async def _round(config: Config, keys: ServingKeys, on_round: Callable[[MirrorRound], None] | None) -> bool:
    """One round of the continuous mode, logged; whether every target was published."""
    try:
        done = await mirror_round(config, keys, config.stores)
    except asyncio.CancelledError:
        raise
    except Exception as e:  # a failed mirror must not stop the site
        log.error("mirror round failed: %s", e)
        return False
    for t in done.targets:
        if t.ok:
            log.info("mirror %s: %d uploaded, %d unchanged, %d deleted", t.store, t.uploaded, t.unchanged, t.deleted)
        else:
            log.error("mirror %s failed: %s", t.store, t.error)
    if on_round is not None:
        on_round(done)
    return done.ok
