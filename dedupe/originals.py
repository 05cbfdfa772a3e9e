"""An image's original bytes, wherever they are kept: in our storage (a copy, once per content),
or at the source itself (in place, issue 16), read from the folder the import found it in.

A file kept in place is served only while it is the file that was imported: its size and
modification time must still be the ones recorded, and it must still resolve inside its folder
(a link swapped in later cannot lead out of it). Otherwise it is drift, never other bytes.
"""

from pathlib import Path, PurePosixPath
from typing import IO

from django.core.files.storage import default_storage

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
    try:
        return resolve_inside(Path(asset.origin_root), asset.origin_path)
    except ValueError as exc:
        raise OriginalUnavailable(f"image {asset.pk} at its source: {exc}") from exc


def original_drift(asset: Asset) -> str:
    """Why a file kept in place is no longer the one imported ("" when it still is), from its size
    and time; `verify_sources` also compares SHA-256 where those differ."""
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
    return open(original_path(asset), "rb")  # noqa: SIM115 - the caller closes it


def original_exists(asset: Asset) -> bool:
    if asset.storage_name:
        return default_storage.exists(asset.storage_name)
    return bool(asset.origin_root) and not original_drift(asset)
