"""One contract, every backend: the same tests over the filesystem, memory and S3 (real SeaweedFS)
backends, through the async Store the engine uses."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import fresh_bucket
from dev_stores import DevStore
from storekit import close_now, filesystem_store, memory_store, s3_spec, s3_store

from replication.errors import ObjectNotFoundError, ObjectTooLargeError, StorePermanentError, StoreUnavailableError
from replication.layout import read_cap
from replication.stores import Layer, Store

BACKENDS = ["filesystem", "memory", "s3"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "filesystem":
        s = filesystem_store(tmp_path / "store")
    elif request.param == "memory":
        s = memory_store()
    else:
        seaweed: list[DevStore] = request.getfixturevalue("seaweed")
        s = s3_store(s3_spec(seaweed[0], fresh_bucket(seaweed[0])))
    yield s
    close_now(s)


async def test_put_get_overwrite(store: Store) -> None:
    await store.check()
    assert await store.put("a/b/c", b"first") is None  # no versions on these stores
    assert await store.get("a/b/c") == b"first"
    await store.put("a/b/c", b"second, longer")
    assert await store.get("a/b/c") == b"second, longer"
    assert not await store.versioned()


async def test_empty_object(store: Store) -> None:
    await store.put("empty", b"")
    assert await store.get("empty") == b""
    info = await store.stat("empty")
    assert info is not None and info.size == 0
    assert await store.get_range("empty", 0, 10) == b""


async def test_get_range_has_slice_semantics(store: Store) -> None:
    data = bytes(range(256)) * 4
    await store.put("r", data)
    for offset, length in [(0, 1), (0, 1024), (10, 100), (1000, 24), (1000, 100), (1023, 5), (1024, 1), (2000, 10)]:
        assert await store.get_range("r", offset, length) == data[offset : offset + length], (offset, length)
    assert await store.get_range("r", 5, 0) == b""


async def test_stat(store: Store) -> None:
    assert await store.stat("missing") is None
    await store.put("dir/x", b"12345")
    info = await store.stat("dir/x")
    assert info is not None and (info.key, info.size) == ("dir/x", 5)
    assert await store.stat("dir") is None  # a folder of keys is not an object
    with pytest.raises(ObjectNotFoundError):
        await store.get("dir")


async def test_list_prefix_and_order(store: Store) -> None:
    keys = ["a/1", "a/2", "a/b/3", "a/b/c/4", "ab/5", "b", "keys/bundle-0000000002.json", "keys/bundle-0000000010.json"]
    shuffled = keys[:]
    random.Random(7).shuffle(shuffled)
    for k in shuffled:
        await store.put(k, k.encode() * 2)
    listed = await store.list_objects("")
    assert [o.key for o in listed] == sorted(keys)
    assert [o.size for o in listed] == [2 * len(k) for k in sorted(keys)]
    assert [o.key for o in await store.list_objects("a/")] == ["a/1", "a/2", "a/b/3", "a/b/c/4"]
    assert [o.key for o in await store.list_objects("a")] == ["a/1", "a/2", "a/b/3", "a/b/c/4", "ab/5"]
    assert [o.key for o in await store.list_objects("a/b")] == ["a/b/3", "a/b/c/4"]
    assert [o.key for o in await store.list_objects("a/b/")] == ["a/b/3", "a/b/c/4"]
    assert [o.key for o in await store.list_objects("keys/bundle-")] == keys[-2:]
    assert await store.list_objects("nothing/") == []
    assert await store.list_objects("a/1/") == []


async def test_delete(store: Store) -> None:
    await store.put("d/1", b"x")
    await store.put("d/2", b"y")
    await store.delete("d/1")
    assert await store.stat("d/1") is None
    with pytest.raises(ObjectNotFoundError):
        await store.get("d/1")
    assert [o.key for o in await store.list_objects("d/")] == ["d/2"]
    # Deleting what is not there is not an error: a retried delete whose first try went through
    # must not fail.
    await store.delete("d/1")
    await store.delete("never/was")


async def test_not_found(store: Store) -> None:
    for call in (lambda: store.get("no/such/key"), lambda: store.get_range("no/such/key", 0, 10)):
        with pytest.raises(ObjectNotFoundError) as e:
            await call()
        assert not isinstance(e.value, StorePermanentError | StoreUnavailableError)
        assert str(e.value) == f"store {store.name}: object no/such/key not found"
        assert e.value.store == store.name


INVALID_KEYS = ["", "..", ".", "../x", "a/../b", "a/./b", "/abs", "/etc/passwd", "a//b", "a/", "a\\b", "a b", "a/.tmp"]


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_invalid_keys_are_refused(store: Store, key: str) -> None:
    calls = [
        lambda: store.put(key, b"x"),
        lambda: store.get(key),
        lambda: store.get_range(key, 0, 1),
        lambda: store.stat(key),
        lambda: store.delete(key),
    ]
    for call in calls:
        with pytest.raises(StorePermanentError, match=rf"^store {store.name}: invalid object key"):
            await call()


@pytest.mark.parametrize("prefix", ["..", "../", "/", "/etc/", "a/../"])
async def test_invalid_prefixes_are_refused(store: Store, prefix: str) -> None:
    with pytest.raises(StorePermanentError, match="invalid"):
        await store.list_objects(prefix)


async def test_large_object(store: Store) -> None:
    data = os.urandom(20 * 1024 * 1024)
    await store.put("big/object", data)
    info = await store.stat("big/object")
    assert info is not None and info.size == len(data)
    assert await store.get("big/object") == data
    assert (
        await store.get_range("big/object", 7 * 1024 * 1024 + 3, 1024 * 1024)
        == data[7 * 1024 * 1024 + 3 : 8 * 1024 * 1024 + 3]
    )
    assert (store.bytes_up, store.bytes_down) == (len(data), len(data) + 1024 * 1024)


async def test_concurrent_operations(store: Store) -> None:
    items = {f"c/{i:03d}": os.urandom(1000 + i) for i in range(40)}
    await asyncio.gather(*(store.put(k, v) for k, v in items.items()))
    got = await asyncio.gather(*(store.get(k) for k in items))
    assert got == list(items.values())
    assert [o.key for o in await store.list_objects("c/")] == sorted(items)


# -- filesystem: atomic writes -------------------------------------------------------------------


async def test_filesystem_leaves_no_temp_files(tmp_path: Path) -> None:
    store = filesystem_store(tmp_path / "fs")
    try:
        await asyncio.gather(*(store.put(f"x/{i}", os.urandom(100_000)) for i in range(20)))
        on_disk = [p.relative_to(tmp_path / "fs") for p in (tmp_path / "fs").rglob("*") if p.is_file()]
        assert sorted(map(str, on_disk)) == sorted(f"x/{i}" for i in range(20))
        # A temp file left by a crash mid-write is never listed as an object.
        (tmp_path / "fs" / "x" / ".5.abcd.tmp").write_bytes(b"half")
        assert [o.key for o in await store.list_objects("x/")] == sorted(f"x/{i}" for i in range(20))
    finally:
        await store.close()


async def test_filesystem_readers_never_see_a_partial_write(tmp_path: Path) -> None:
    store = filesystem_store(tmp_path / "fs")
    size = 4 * 1024 * 1024
    versions = [bytes([c]) * size for c in b"abcd"]
    try:
        await store.put("obj", versions[0])
        writes = [store.put("obj", versions[i % 4]) for i in range(24)]
        reads = [store.get("obj") for _ in range(24)]
        results = await asyncio.gather(*writes, *reads)
        for data in results[24:]:
            assert data in versions
    finally:
        await store.close()


async def test_filesystem_store_keeps_to_its_folder(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("outside the store")
    store = filesystem_store(tmp_path / "fs")
    try:
        await store.put("inside", b"x")
        assert [o.key for o in await store.list_objects("")] == ["inside"]
        with pytest.raises(StorePermanentError):
            await store.get("../secret.txt")
    finally:
        await store.close()


async def test_listings_say_when_each_object_was_written(store: Store) -> None:
    """Prune's grace period reads ``last_modified`` from listings (by the store's clock)."""
    before = datetime.now(UTC) - timedelta(minutes=5)  # the store's clock may differ a little from ours
    await store.put("lm/one", b"1")
    [info] = await store.list_objects("lm/")
    assert info.last_modified is not None
    assert before < info.last_modified < datetime.now(UTC) + timedelta(minutes=5)
    [version] = [v for v in await store.list_versions("lm/") if not v.is_delete_marker]
    assert abs((version.last_modified - info.last_modified).total_seconds()) < 2


# -- bounded reads: no answer longer than the format allows for that kind of object -------------


@pytest.mark.parametrize(
    ("key", "cap", "kind", "size"),
    [
        ("embassy-repo.json", 64 << 10, "the repository config", "65536 bytes"),
        ("keys/bundle-0000000001.json", 4 << 20, "a key bundle", "4 MiB"),
        ("locks/backup-20261127T082146.123456Z-0123456789abcdef", 4096, "a lock", "4096 bytes"),
    ],
)
async def test_an_object_longer_than_its_kind_allows_is_damage(
    store: Store, key: str, cap: int, kind: str, size: str
) -> None:
    await store.put(key, b"x" * cap)
    assert len(await store.get(key)) == cap
    await store.put(key, b"x" * (cap + 1))
    with pytest.raises(ObjectTooLargeError) as e:
        await store.get(key)
    assert str(e.value) == f"store {store.name}: {key}: larger than the format allows for {kind} ({size})"
    assert (e.value.store, e.value.key, e.value.limit) == (store.name, key, cap)
    assert store.bytes_down == cap  # what was refused was not counted as read, nor held


async def test_a_caller_may_cap_a_read_tighter(store: Store) -> None:
    await store.put("r/t/packs/ab/abcd", b"y" * 1000)
    assert await store.get("r/t/packs/ab/abcd", max_bytes=1000) == b"y" * 1000
    with pytest.raises(ObjectTooLargeError, match=r"r/t/packs/ab/abcd: larger than the format allows"):
        await store.get("r/t/packs/ab/abcd", max_bytes=999)


def test_read_caps_follow_the_layout() -> None:
    caps = {
        "embassy-repo.json": 64 << 10,
        "keys/bundle-0000000007.json": 4 << 20,
        "locks/prune-20261127T082146.123456Z-0123456789abcdef": 4096,
        "r/0123456789abcdef01234567/snapshots/20261127T082146.123456Z_" + "a" * 64: 64 << 20,
        "r/0123456789abcdef01234567/forgotten/20261127T082146.123456Z_" + "a" * 64: (16 << 20) + 76,
        "r/0123456789abcdef01234567/packs/aa/" + "a" * 64: 64 << 20,
    }
    assert {key: read_cap(key).limit for key in caps} == caps


async def test_wrappers_are_one_concern_each_around_the_backend(tmp_path: Path) -> None:
    """The seam later layers (a circuit breaker, metrics) plug into: they see every call, outside
    the retries, and the store's public methods stay the same."""
    seen: list[str] = []

    class Recording(Layer):
        async def call(self, op: str, *args: object) -> object:
            seen.append(op)
            return await self.inner.call(op, *args)

    store = filesystem_store(tmp_path / "s", "s")
    store = Store(store.spec, store.backend, layers=[Recording])
    try:
        await store.put("a", b"1")
        assert await store.get("a") == b"1"
        assert [o.key for o in await store.list_objects("")] == ["a"]
        assert seen == ["put", "get", "list_objects"]
        assert (store.bytes_up, store.bytes_down) == (1, 1)
    finally:
        await store.close()
