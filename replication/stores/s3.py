"""A store in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS, Ceph RGW) through boto3.

boto3 clients are thread-safe, so one client serves all worker threads. botocore's own retries are
off: :class:`~replication.stores.store.Store` retries transient faults with tenacity, and this
module only sorts each failure into not-found, transient or permanent.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.exceptions as bex
from botocore.config import Config
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from replication.errors import ObjectLockedError, ObjectNotFoundError, ObjectTooLargeError, StorePermanentError
from replication.spec import StoreSpec
from replication.stores.base import (
    ObjectInfo,
    ObjectVersion,
    StoreHungError,
    StoreTransientError,
    check_key,
    check_prefix,
)

_NOT_FOUND = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}
_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "503", "500", "502", "504"}
_NO_RETENTION = {"NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"}
_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
_TRANSIENT_EXC = (
    bex.EndpointConnectionError,
    bex.ConnectionClosedError,
    bex.ReadTimeoutError,
    bex.ConnectTimeoutError,
    bex.ConnectionError,
    bex.HTTPClientError,
    bex.IncompleteReadError,
    bex.ResponseStreamingError,
)


_session: Any = None
_session_lock = threading.Lock()


def shared_session() -> Any:
    """One boto3 session for every S3 store: it loads the S3 service model (~70 ms) once, and the
    clients it makes are thread-safe. Sessions themselves are not, hence the lock."""
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
            factory = _session._session.get_component("response_parser_factory")
            factory.set_parser_defaults(timestamp_parser=parse_timestamp)
        return _session


def parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser, but ISO 8601 with a zone (every LastModified of a listing)
    through ``datetime.fromisoformat``: dateutil took half of a 1,000-snapshot listing's time."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return botocore_parse_timestamp(value)  # RFC 822 headers, epoch seconds, zoneless times


def warm_up() -> None:
    """Import and load what the first S3 client needs, e.g. while the keyring's KDF runs."""
    with _session_lock:
        shared = _session
    (shared or shared_session())._session.get_service_model("s3")


class S3Backend:
    def __init__(
        self,
        spec: StoreSpec,
        max_connections: int = 16,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> None:
        # The Store's deadline gives up on a request after spec.request_timeout; the socket timeouts
        # follow it, so that the worker thread such a request holds is free again soon after.
        if connect_timeout is None:
            connect_timeout = min(5.0, spec.request_timeout)
        if read_timeout is None:
            read_timeout = spec.request_timeout
        self.read_timeout = read_timeout
        if spec.endpoint is None or spec.bucket is None or spec.credentials is None:
            raise StorePermanentError(spec.name, "an s3 store needs endpoint, bucket and credentials")
        self.name = spec.name
        self.bucket = spec.bucket
        self._versioned: bool | None = None
        host = urlparse(spec.endpoint).hostname or ""
        config = Config(
            region_name=spec.region,
            signature_version="s3v4",
            # Path-style works on every S3-compatible server; AWS itself prefers virtual hosts.
            s3={"addressing_style": "virtual" if host.endswith("amazonaws.com") else "path"},
            # total_max_attempts counts the first try; botocore's max_attempts counts only retries,
            # so max_attempts=1 made every request twice before tenacity saw a fault.
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max_connections,
            tcp_keepalive=True,
            # Every object we read is checked against its content id (BLAKE3) or AEAD tags anyway;
            # a CRC32 of every response on top costs CPU and proves nothing more. Uploads keep
            # theirs (S3 requires a checksum on Object Lock PUTs).
            response_checksum_validation="when_required",
        )
        self._client: Any = shared_session().client(
            "s3",
            endpoint_url=spec.endpoint,
            aws_access_key_id=spec.credentials.access_key,
            aws_secret_access_key=spec.credentials.secret_key,
            config=config,
        )

    # -- error sorting ---------------------------------------------------------------------------

    def _error(self, e: Exception, key: str, op: str) -> Exception:
        what = key or f"bucket {self.bucket}"
        if isinstance(e, bex.ClientError):
            err = e.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code == "NoSuchBucket":
                return StorePermanentError(self.name, f"bucket {self.bucket} does not exist")
            if code in _NOT_FOUND or (status == 404 and op in ("head", "get", "retention")):
                return ObjectNotFoundError(self.name, key)
            if code in _CREDENTIALS:
                return StorePermanentError(self.name, f"the credentials were refused ({code}); check the access key")
            if code == "AccessDenied" and op in ("delete", "set_retention", "put"):
                return ObjectLockedError(self.name, f"{op} {key} refused (AccessDenied: locked or not allowed)")
            if status == 403 or code == "AccessDenied":
                return StorePermanentError(
                    self.name, f"{op} {what}: access denied (403); check the credentials and the bucket's permissions"
                )
            if status >= 500 or code in _TRANSIENT_CODES:
                return StoreTransientError(self.name, f"{op} {what}: server error {status} {code}")
            return StorePermanentError(self.name, f"{op} {what}: {code or status} {err.get('Message', '')}".strip())
        if isinstance(e, bex.ReadTimeoutError):
            # The socket timeout is the store's request_timeout: no answer within it is a hang.
            return StoreHungError(self.name, f"{op} {what}: no answer within {self.read_timeout:g} s")
        if isinstance(e, _TRANSIENT_EXC):
            return StoreTransientError(self.name, f"{op} {what}: {type(e).__name__}: {e}")
        if isinstance(e, bex.NoCredentialsError | bex.PartialCredentialsError):
            return StorePermanentError(self.name, "no credentials")
        if isinstance(e, bex.BotoCoreError):
            return StorePermanentError(self.name, f"{op} {what}: {e}")
        return e

    def _call(self, op: str, key: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except Exception as e:
            raise self._error(e, key, op) from e

    # -- the backend interface -------------------------------------------------------------------

    @property
    def versioned(self) -> bool:
        if self._versioned is None:
            resp = self._call("versioning", "", self._client.get_bucket_versioning)
            self._versioned = resp.get("Status") == "Enabled"
        return self._versioned

    def check(self, object_lock_days: int) -> None:
        try:
            self._call("head", "", self._client.head_bucket)
        except ObjectNotFoundError as e:  # HEAD has no body: a missing bucket is a bare 404
            raise StorePermanentError(self.name, f"bucket {self.bucket} does not exist") from e
        if object_lock_days:
            try:
                conf = self._client.get_object_lock_configuration(Bucket=self.bucket)
                enabled = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
            except bex.ClientError as e:
                if e.response.get("Error", {}).get("Code") != "ObjectLockConfigurationNotFoundError":
                    raise self._error(e, "", "lock") from e
                enabled = False
            except Exception as e:
                raise self._error(e, "", "lock") from e
            if not enabled:
                raise StorePermanentError(
                    self.name,
                    f"bucket {self.bucket} has no Object Lock, but object_lock_days = {object_lock_days}: "
                    "create the bucket with Object Lock enabled, or set object_lock_days = 0",
                )

    def put(self, key: str, data: bytes, retain_until: datetime | None) -> str | None:
        check_key(self.name, key)
        extra: dict[str, Any] = {}
        if retain_until is not None:
            extra = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": retain_until}
        resp = self._call("put", key, self._client.put_object, Key=key, Body=data, **extra)
        version = resp.get("VersionId")
        return str(version) if version and version != "null" else None

    def get(self, key: str, version_id: str | None, limit: int) -> bytes:
        check_key(self.name, key)
        extra = {"VersionId": version_id} if version_id else {}
        resp = self._call("get", key, self._client.get_object, Key=key, **extra)
        body = resp["Body"]
        try:
            if int(resp.get("ContentLength") or 0) > limit:
                raise ObjectTooLargeError(self.name, key, limit)
            data = bytes(body.read(limit + 1))  # a server may send more than it announced
        except ObjectTooLargeError:
            raise
        except Exception as e:
            raise self._error(e, key, "get") from e
        finally:
            body.close()  # the rest of a refused answer is dropped with the connection, never read
        if len(data) > limit:
            raise ObjectTooLargeError(self.name, key, limit)
        return data

    def get_range(self, key: str, offset: int, length: int, version_id: str | None) -> bytes:
        check_key(self.name, key)
        if length <= 0:
            return b""
        extra = {"VersionId": version_id} if version_id else {}
        rng = f"bytes={offset}-{offset + length - 1}"
        try:
            resp = self._client.get_object(Bucket=self.bucket, Key=key, Range=rng, **extra)
        except bex.ClientError as e:
            if e.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""  # the range starts at or past the end: empty, as a slice would be
            raise self._error(e, key, "get") from e
        except Exception as e:
            raise self._error(e, key, "get") from e
        body = resp["Body"]
        try:
            return bytes(body.read(length + 1))  # more than asked for is refused by the caller, unread
        except Exception as e:
            raise self._error(e, key, "get") from e
        finally:
            body.close()

    def stat(self, key: str) -> ObjectInfo | None:
        check_key(self.name, key)
        try:
            resp = self._call("head", key, self._client.head_object, Key=key)
        except ObjectNotFoundError:
            return None
        version = resp.get("VersionId")
        return ObjectInfo(key, int(resp["ContentLength"]), version if version != "null" else None)

    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        check_prefix(self.name, prefix)
        out = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    out.append(ObjectInfo(obj["Key"], int(obj["Size"]), last_modified=obj["LastModified"]))
        except Exception as e:
            raise self._error(e, prefix, "list") from e
        out.sort(key=lambda o: o.key)
        return out

    def list_versions(self, prefix: str) -> list[ObjectVersion]:
        check_prefix(self.name, prefix)
        out = []
        try:
            pages = self._client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                for v in page.get("Versions", []):
                    out.append(
                        ObjectVersion(v["Key"], v["VersionId"], int(v["Size"]), v["IsLatest"], False, v["LastModified"])
                    )
                for m in page.get("DeleteMarkers", []):
                    out.append(ObjectVersion(m["Key"], m["VersionId"], 0, m["IsLatest"], True, m["LastModified"]))
        except Exception as e:
            raise self._error(e, prefix, "list") from e
        # Oldest first. LastModified has whole seconds, so ties are common: the latest goes last, and
        # otherwise S3's own order (newest first within a key) decides.
        order = {id(v): i for i, v in enumerate(out)}
        out.sort(key=lambda v: (v.key, v.last_modified, v.is_latest, -order[id(v)]))
        return out

    def delete(self, key: str, version_id: str | None) -> None:
        check_key(self.name, key)
        extra = {"VersionId": version_id} if version_id else {}
        self._call("delete", key, self._client.delete_object, Key=key, **extra)

    def retention(self, key: str, version_id: str | None) -> datetime | None:
        check_key(self.name, key)
        extra = {"VersionId": version_id} if version_id else {}
        try:
            resp = self._client.get_object_retention(Bucket=self.bucket, Key=key, **extra)
        except bex.ClientError as e:
            # An object without retention: a 404 with one of these codes, not a missing object.
            if e.response.get("Error", {}).get("Code") in _NO_RETENTION:
                return None
            raise self._error(e, key, "retention") from e
        except Exception as e:
            raise self._error(e, key, "retention") from e
        until = resp.get("Retention", {}).get("RetainUntilDate")
        return until if isinstance(until, datetime) else None

    def set_retention(self, key: str, until: datetime, version_id: str | None) -> None:
        check_key(self.name, key)
        extra = {"VersionId": version_id} if version_id else {}
        self._call(
            "set_retention",
            key,
            self._client.put_object_retention,
            Key=key,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until},
            **extra,
        )

    def close(self) -> None:
        self._client.close()
