"""An image's original bytes, wherever they are kept: in our storage (a copy, once per content),
or at the source itself (in place, issue 16), read from the folder the import found it in.

A file kept in place is served only while it is the file that was imported: its size and
modification time must still be the ones recorded, and it must still resolve inside its folder
(a link swapped in later cannot lead out of it). Otherwise it is drift, never other bytes.
An object kept in a bucket (origin_root `s3://bucket/prefix`) likewise: its size and ETag must
be the ones recorded, and it is read only while the store confirms that ETag (`dedupe.buckets`).
"""

from pathlib import Path, PurePosixPath
from typing import IO

from django.core.files.storage import default_storage

from .buckets import BucketPlace, ObjectUnavailable, bucket_place, is_bucket_url, object_facts, object_open
from .models import Asset


def resolve_inside(root: Path, raw: str) -> Path:
    """The file a manifest path names, or ValueError when the path would leave the import root."""
    if not raw:
        raise ValueError("empty path")
    if raw.startswith(("/", "\\")) or PurePosixPath(raw).is_absolute() or (len(raw) > 1 and raw[1] == ":"):
        raise ValueError("absolute path refused: paths must be relative to the import root")
    if ".." in PurePosixPath(raw.replace("\\", "/")).parts:
        raise ValueError("path leaves the import root ('..' refused)")
    real_root = root.resolve()
    target = (real_root / raw).resolve()
    if target != real_root and real_root not in target.parents:
        raise ValueError(f"path leaves the import root through a link (resolves to {target})")
    return target


class OriginalUnavailable(OSError):
    """The original cannot be read as it was imported; the message says why (for pages and logs)."""


def original_path(asset: Asset) -> Path:
    """Where a file kept in place lies, checked to be still inside its folder."""
    if not asset.origin_root:
        raise OriginalUnavailable(f"image {asset.pk} has neither stored bytes nor a place at its source")
    if is_bucket_url(asset.origin_root):
        raise OriginalUnavailable(f"image {asset.pk} is an object in a bucket, not a file ({asset.origin_root})")
    try:
        return resolve_inside(Path(asset.origin_root), asset.origin_path)
    except ValueError as exc:
        raise OriginalUnavailable(f"image {asset.pk} at its source: {exc}") from exc


def original_drift(asset: Asset) -> str:
    """Why a file kept in place is no longer the one imported ("" when it still is), from its size
    and time (an object's: size, ETag and time); `verify_sources` also compares SHA-256 where
    those differ."""
    if in_bucket(asset):
        try:
            return object_drift(asset)
        except OSError as exc:  # not readable now: not served, nor counted as there
            return str(exc)
    try:
        stat = original_path(asset).stat()
    except FileNotFoundError:
        return f"the file is gone from its source ({asset.origin_path})"
    except OSError as exc:
        return str(exc)
    if stat.st_size != asset.byte_size or stat.st_mtime_ns != asset.origin_mtime_ns:
        return f"the file changed at its source since it was imported ({asset.origin_path})"
    return ""


def original_open(asset: Asset) -> IO[bytes]:
    """The original's bytes for reading; OSError (OriginalUnavailable or the storage's) when they
    cannot be read as imported."""
    if asset.storage_name:
        return default_storage.open(asset.storage_name, "rb")
    drift = original_drift(asset)
    if drift:
        raise OriginalUnavailable(f"image {asset.pk}: {drift}")
    if in_bucket(asset):
        try:  # only while the store still holds the ETag imported, and no more bytes than imported
            return object_open(asset_place(asset), object_key(asset), etag=asset.origin_etag, size=asset.byte_size)
        except (ObjectUnavailable, ValueError) as exc:
            raise OriginalUnavailable(f"image {asset.pk}: {exc}") from exc
    return open(original_path(asset), "rb")  # noqa: SIM115 - the caller closes it


def original_exists(asset: Asset) -> bool:
    if asset.storage_name:
        return default_storage.exists(asset.storage_name)
    return bool(asset.origin_root) and not original_drift(asset)


def in_bucket(asset: Asset) -> bool:
    """Whether the original is an object kept in a bucket (not a file on a share, not ours)."""
    return not asset.storage_name and is_bucket_url(asset.origin_root)


def asset_place(asset: Asset) -> BucketPlace:
    try:
        return bucket_place(asset.origin_root)
    except ValueError as exc:
        raise OriginalUnavailable(f"image {asset.pk}: {exc}") from exc


def object_key(asset: Asset) -> str:
    """The object's full key now: where quarantine moved it, or where the import found it (checked
    again to lie under the prefix)."""
    if asset.origin_moved_to:
        return asset.origin_moved_to
    try:
        return asset_place(asset).key(asset.origin_path)
    except ValueError as exc:
        raise OriginalUnavailable(f"image {asset.pk} at its source: {exc}") from exc


def object_drift(asset: Asset) -> str:
    """As `original_drift` for an object in a bucket, but a store that does not answer raises
    ObjectUnavailable: an outage is not drift, and `verify_sources` must not strip placeholders
    for it."""
    try:
        facts = object_facts(asset_place(asset), object_key(asset))
    except OriginalUnavailable as exc:  # a key or root that is no longer acceptable: drift
        return str(exc)
    if facts is None:
        return f"the object is gone from its source ({asset.origin_path})"
    if (facts.size, facts.etag, facts.modified_ns) != (asset.byte_size, asset.origin_etag, asset.origin_mtime_ns):
        return f"the object changed at its source since it was imported ({asset.origin_path})"
    return ""
