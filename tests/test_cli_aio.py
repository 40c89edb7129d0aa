"""embassy.cli.aio.run: asyncio.run without formatting the command's result on the way out."""

from __future__ import annotations

import asyncio

import pytest

from embassy.cli import aio


class Report:
    """A result that counts how often it is formatted (a big verify report costs ms each time)."""

    def __init__(self) -> None:
        self.formatted = 0

    def __repr__(self) -> str:
        self.formatted += 1
        return "Report()"


async def _make() -> Report:
    await asyncio.sleep(0)
    return Report()


def test_plain_asyncio_run_formats_the_result() -> None:
    # The cost aio.run avoids: if a Python release stops doing this, aio.run can go.
    assert asyncio.run(_make()).formatted >= 1


def test_run_returns_the_result_unformatted() -> None:
    report = aio.run(_make())
    assert isinstance(report, Report)
    assert report.formatted == 0


def test_run_propagates_the_error() -> None:
    async def fail() -> None:
        raise ValueError("store s1 unreachable")

    with pytest.raises(ValueError, match="store s1 unreachable"):
        aio.run(fail())
