"""The environment a child process gets: a minimal base and only the variables named for it.

Dump commands and the site's serving workers never inherit the whole environment, which holds the
keyring passphrase (``EMBASSY_PASSPHRASE``) and the stores' secrets. They get ``PATH``, ``HOME``,
``LANG``, every ``LC_*`` and ``TZ`` when set, plus the variables named (a named variable that is
not set is left out, as systemd's ``PassEnvironment`` does).
"""

from collections.abc import Iterable, Mapping

BASE_VARIABLES = ("PATH", "HOME", "LANG", "TZ")


def is_base_variable(name: str) -> bool:
    return name in BASE_VARIABLES or name.startswith("LC_")


def minimal_environment(environ: Mapping[str, str], names: Iterable[str] = ()) -> dict[str, str]:
    """The base variables of ``environ`` that are set, and those of ``names`` that are set."""
    wanted = set(names)
    return {k: v for k, v in sorted(environ.items()) if is_base_variable(k) or k in wanted}
