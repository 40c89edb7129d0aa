"""The S3 client's timestamp parser (replication/stores/s3.py): ISO 8601 the fast way, everything
else as botocore parses it, and the same instant either way."""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.utils import parse_timestamp as botocore_parse_timestamp

from replication.stores.s3 import parse_timestamp, shared_session

SAMPLES = [
    "2026-12-02T07:04:31.123Z",  # a listing's LastModified
    "2026-12-02T07:04:31Z",
    "2026-12-02T09:04:31.000+02:00",
    "Wed, 02 Dec 2026 07:04:31 GMT",  # a GET's Last-Modified header
    "2026-12-02T07:04:31",  # no zone: botocore's rule applies
    1796195071,
]


def test_every_form_parses_to_the_instant_botocore_gives() -> None:
    for value in SAMPLES:
        ours, theirs = parse_timestamp(value), botocore_parse_timestamp(value)
        assert ours == theirs and (ours.tzinfo is None) == (theirs.tzinfo is None), value
    assert parse_timestamp("2026-12-02T07:04:31.123Z") == datetime(2026, 12, 2, 7, 4, 31, 123000, tzinfo=UTC)


def test_s3_clients_parse_with_it() -> None:
    factory = shared_session()._session.get_component("response_parser_factory")
    assert factory._defaults["timestamp_parser"] is parse_timestamp
