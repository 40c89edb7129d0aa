"""`embassy init [--demo]`: config, data dir, keyring, and the stores' repository config and key bundle."""

from typing import Any

from embassy.backup_service import open_stores
from embassy.cli import aio
from embassy.cli.context import Context
from embassy.cli.errors import DEGRADED, OK
from embassy.cli.publish import numbered_above, publish_keys
from embassy.config import default_config_text
from keys import Keyring


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("init", parents=[common], help="write a default config, create the data dir and the keyring")
    p.add_argument("--demo", action="store_true", help="also seed the demo mission (content, registries, staff)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    path = ctx.config_path
    wrote_config = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(default_config_text(), encoding="utf-8")
        wrote_config = True
        ctx.say(f"wrote the default config to {path}")
    config = ctx.config
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    names = [r.name for r in config.registries]
    if config.keyring_path.exists():
        ring, passphrase = ctx.load_keyring()
        created = False
    else:
        passphrase = ctx.passphrase(new=True)
        ring = Keyring.create(names)
        created = True
    updated = ring.with_registries(names).with_statement_key()  # a keyring from before statement keys gets one
    if created or updated is not ring:
        if not created:  # a keyring recovered from a stale store numbers its next bundle above them all
            updated = aio.run(numbered_above(open_stores(ctx.config), updated))
        ctx.save_keyring(updated, passphrase)
        ring = updated
    ctx.say(
        ("created" if created else "opened") + f" the keyring {config.keyring_path} (master key {ring.master_key_id})"
    )
    if ctx.args.demo:
        from embassy.demo import seed_demo

        for line in seed_demo(config, ring):
            ctx.say(line)
    stores = aio.run(publish_keys(open_stores(ctx.config), ring))
    for name, result in stores.items():
        ctx.say(f"store {name}: {result}")
    from embassy.contact.custody import current_key_of

    if current_key_of(config.data_dir) is None:
        ctx.say("the contact channels open once `embassy inbox init` has made the inbox key (docs/inbox.md)")
    if ctx.json:
        ctx.emit(
            {
                "config": str(path),
                "wrote_config": wrote_config,
                "keyring": str(config.keyring_path),
                "created_keyring": created,
                "master_key_id": ring.master_key_id,
                "stores": stores,
            }
        )
    if any(r != "ok" for r in stores.values()):
        ctx.note("some stores could not be prepared (see above); backups go to the others until fixed")
        return DEGRADED
    return OK
