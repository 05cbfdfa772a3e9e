"""Sources kept in an S3-compatible bucket (issue 16): where an object lies, what it was, and the
few writes a source may grant us (a move aside into quarantine, a delete after retention).

Everything goes through django-storages' S3Storage, built from `settings.DEDUPE_S3` for the
source's bucket and prefix, and the boto3 client it holds (for ETags, conditional reads and
listings the Storage API does not offer). A key is checked like a path: a manifest may not name an
object outside the source's prefix, whatever `..`, leading slashes or backslashes it holds.
"""

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from storages.backends.s3 import S3Storage

from .manifest import Row

SCHEME = "s3://"
# Bytes a read of an original keeps in memory before it spools to a temporary file.
SPOOL_BYTES = 8 * 1024 * 1024
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class BucketPlace:
    """A bucket and the prefix a source's keys are relative to (no leading or trailing slash)."""

    bucket: str
    prefix: str = ""

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, relative: str) -> str:
        """The object's full key, or ValueError when `relative` would leave the prefix."""
        return key_inside(self.prefix, relative)


@dataclass(frozen=True)
class ObjectFacts:
    """What HEAD says of an object: enough to tell, without reading it, that it is unchanged."""

    size: int
    etag: str
    modified_ns: int


class ObjectUnavailable(OSError):
    """The object cannot be read or changed; the message says why, for pages and logs."""


def is_bucket_url(raw: str) -> bool:
    """Whether an import root (or an asset's origin_root) names a bucket rather than a folder."""
    return raw.startswith(SCHEME)


def bucket_place(raw: str) -> BucketPlace:
    """`s3://bucket/prefix` as a place, or ValueError saying what is wrong with it."""
    if not is_bucket_url(raw):
        raise ValueError(f"{raw}: not an s3://bucket/prefix address")
    bucket, _, prefix = raw[len(SCHEME) :].partition("/")
    if not bucket:
        raise ValueError(f"{raw}: no bucket named")
    prefix = prefix.strip("/")
    if prefix:
        key_inside("", prefix)  # the prefix itself may not climb out of the bucket
    return BucketPlace(bucket=bucket, prefix=prefix)


def key_inside(prefix: str, raw: str) -> str:
    """The key `raw` names under `prefix`, or ValueError when it would leave it (as `resolve_inside`)."""
    if not raw:
        raise ValueError("empty path")
    if raw.startswith(("/", "\\")) or (len(raw) > 1 and raw[1] == ":"):
        raise ValueError("absolute path refused: keys must be relative to the source's prefix")
    parts = PurePosixPath(raw.replace("\\", "/")).parts
    if ".." in parts:
        raise ValueError("key leaves the source's prefix ('..' refused)")
    if "." in raw.replace("\\", "/").split("/") or "//" in raw:
        raise ValueError("key holds an empty or '.' segment: not one object's name")
    return f"{prefix}/{raw}" if prefix else raw


def bucket_storage(place: BucketPlace) -> S3Storage:
    """The configured S3Storage for a bucket, rooted at the source's prefix."""
    return _storage(place.bucket, place.prefix, tuple(sorted(settings.DEDUPE_S3.items())))


@lru_cache(maxsize=32)
def _storage(bucket: str, prefix: str, options: tuple[tuple[str, Any], ...]) -> S3Storage:
    # Nothing is public: no presigned URLs handed out, reads spool to disk past SPOOL_BYTES.
    return S3Storage(
        bucket_name=bucket,
        location=prefix,
        querystring_auth=False,
        file_overwrite=True,
        max_memory_size=SPOOL_BYTES,
        **{k: v for k, v in options if v is not None},
    )


def _client(place: BucketPlace) -> Any:
    return bucket_storage(place).connection.meta.client


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def bucket_reachable(place: BucketPlace) -> None:
    """ObjectUnavailable unless the bucket answers with these settings and credentials."""
    try:
        _client(place).head_bucket(Bucket=place.bucket)
    except (ClientError, BotoCoreError) as exc:
        endpoint = settings.DEDUPE_S3["endpoint_url"] or "AWS"
        raise ObjectUnavailable(f"bucket {place.bucket} not reachable at {endpoint}: {exc}") from exc


def object_facts(place: BucketPlace, key: str) -> ObjectFacts | None:
    """Size, ETag and time of the object at `key` (a full key); None when there is none."""
    try:
        head = _client(place).head_object(Bucket=place.bucket, Key=key)
    except ClientError as exc:
        if _missing(exc):
            return None
        raise ObjectUnavailable(f"{SCHEME}{place.bucket}/{key}: {exc}") from exc
    except BotoCoreError as exc:
        raise ObjectUnavailable(f"{SCHEME}{place.bucket}/{key}: {exc}") from exc
    return facts_of(head)


def facts_of(head: dict) -> ObjectFacts:
    """HEAD's answer as facts; LastModified in nanoseconds, as a file's mtime is kept."""
    modified = head["LastModified"]
    return ObjectFacts(
        size=int(head["ContentLength"]),
        etag=str(head["ETag"]),
        modified_ns=int(modified.timestamp()) * 1_000_000_000 + modified.microsecond * 1000,
    )


def object_chunks(place: BucketPlace, key: str, *, etag: str, limit: int) -> Iterator[bytes]:
    """The object's bytes, a chunk at a time, only while its ETag is still `etag` (the store
    refuses otherwise, so an object replaced between HEAD and GET is never read as the old one),
    and never more than `limit` bytes: more is refused, not read."""
    try:
        body = _client(place).get_object(Bucket=place.bucket, Key=key, IfMatch=etag)["Body"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        why = "gone" if _missing(exc) else "changed" if code in ("412", "PreconditionFailed") else str(exc)
        raise ObjectUnavailable(f"the object is {why} at its source ({key})") from exc
    except BotoCoreError as exc:
        raise ObjectUnavailable(f"{SCHEME}{place.bucket}/{key}: {exc}") from exc
    read = 0
    with body:
        while chunk := body.read(READ_CHUNK):
            read += len(chunk)
            if read > limit:
                raise ObjectUnavailable(f"the object at its source is longer than {limit:,} bytes ({key})")
            yield chunk


def object_open(place: BucketPlace, key: str, *, etag: str, size: int) -> IO[bytes]:
    """The object's bytes as a file (spooled to disk past SPOOL_BYTES), exactly `size` of them."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the caller closes it
    try:
        for chunk in object_chunks(place, key, etag=etag, limit=size):
            spool.write(chunk)
        if spool.tell() != size:
            raise ObjectUnavailable(f"the object at its source is not {size:,} bytes long ({key})")
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def object_move(place: BucketPlace, key: str, to_key: str) -> ObjectFacts:
    """Copy the object to `to_key` in the same bucket (on the server: the bytes do not travel),
    then delete it where it was; what the moved object is."""
    client = _client(place)
    try:
        client.copy_object(Bucket=place.bucket, Key=to_key, CopySource={"Bucket": place.bucket, "Key": key})
        moved = object_facts(place, to_key)
        if moved is None:
            raise ObjectUnavailable(f"{SCHEME}{place.bucket}/{to_key} is not there after the copy")
        client.delete_object(Bucket=place.bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise ObjectUnavailable(f"{SCHEME}{place.bucket}/{key} could not be moved to {to_key}: {exc}") from exc
    return moved


def object_delete(place: BucketPlace, key: str) -> None:
    """Delete the object at `key` (a purge where the source grants write access)."""
    try:
        _client(place).delete_object(Bucket=place.bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise ObjectUnavailable(f"{SCHEME}{place.bucket}/{key} could not be deleted: {exc}") from exc


def quarantine_key(place: BucketPlace, relative: str) -> str:
    """Where a quarantined object is moved: beside the prefix, so no import under it meets it."""
    return f"{settings.DEDUPE_S3_QUARANTINE_PREFIX}/{place.key(relative)}"


def bucket_rows(place: BucketPlace, *, source: str, record_per: str) -> Iterator[Row]:
    """Every object under the prefix as a row, as `dedupe.ingest.folder_rows` walks a folder."""
    paginator = _client(place).get_paginator("list_objects_v2")
    start = f"{place.prefix}/" if place.prefix else ""
    number = 0
    for page in paginator.paginate(Bucket=place.bucket, Prefix=start):
        for item in page.get("Contents", []):
            rel = item["Key"][len(start) :]
            if not rel or rel.endswith("/") or PurePosixPath(rel).name.startswith("."):
                continue
            number += 1
            path = PurePosixPath(rel)
            if record_per == "folder":
                top = place.prefix or place.bucket
                record_id, slot = (str(path.parent) if str(path.parent) != "." else top), path.name
            else:
                record_id, slot = str(path.with_suffix("")), "1"
            yield Row(number=number, path=rel, source=source, record_id=record_id, slot=slot)
