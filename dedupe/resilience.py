"""Transient faults: what is worth retrying, how long to keep at it, and the sentence when we stop.

A database that restarts, a connection an administrator terminated, a broker being restarted or
a disk that fills and is freed are not reasons for a command to die with a traceback. Commands
wrap each step that touches them in `retrying`; when patience runs out they say in one line what
failed and what to run to resume (every command here resumes where it stopped when run again).
"""

import errno
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from kombu.exceptions import OperationalError as BrokerError

from .sandbox import SandboxBroken

log = logging.getLogger(__name__)
T = TypeVar("T")


class StorageFull(OSError):
    """Storage answered ENOSPC: nothing is wrong with the file, there is no room for it (yet)."""


# Faults that pass: a lost database connection (or SQLite's "database is locked"), a broker being
# restarted, a full disk being freed, a decoder process that died under the chunk.
TRANSIENT: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, BrokerError, StorageFull, SandboxBroken)


class GaveUp(RuntimeError):
    """A transient fault outlasted our patience; the message is the one-line diagnosis."""


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


@contextmanager
def storage_full_named() -> Iterator[None]:
    """Turn storage's ENOSPC into StorageFull, so that retry policies can name it apart from other OSErrors."""
    try:
        yield
    except OSError as exc:
        if is_disk_full(exc) and not isinstance(exc, StorageFull):
            raise StorageFull(exc.errno, f"storage is full: {exc.strerror or exc}") from exc
        raise


def _drop_broken_connections() -> None:
    """A connection that failed is useless: drop it so that the next attempt opens a fresh one.

    Not inside a transaction (a test's, or a caller's): closing there would break it, and a step
    retried inside one cannot recover anyway.
    """
    if not connection.in_atomic_block:
        close_old_connections()


def describe(exc: BaseException) -> str:
    """What kind of fault this is, in words an administrator acts on."""
    if isinstance(exc, StorageFull):
        return f"storage is full ({exc.strerror or exc})"
    if isinstance(exc, BrokerError):
        return f"the message broker is unreachable ({exc})"
    if isinstance(exc, SandboxBroken):
        return f"the decoding process failed ({exc})"
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"the database is unreachable ({first_line})"


def retrying(
    step: Callable[[], T],
    *,
    what: str,
    resume: str,
    on_fault: Callable[[BaseException, int], None] | None = None,
    patience: float | None = None,
) -> T:
    """Run `step`, again after each transient fault with doubling pauses, until `patience` seconds pass.

    `step` must be safe to run again (a batch in one transaction, a read, a conditional update).
    `on_fault(exc, attempt)` is told of each fault (to record it). When patience runs out, raises
    GaveUp with "WHAT failed: WHY. RESUME".
    """
    patience = settings.DEDUPE_COMMAND_PATIENCE_SECONDS if patience is None else patience
    deadline = time.monotonic() + patience
    pause, attempt = 0.5, 0
    while True:
        attempt += 1
        try:
            return step()
        except TRANSIENT as exc:
            _drop_broken_connections()
            if on_fault is not None:
                try:
                    on_fault(exc, attempt)
                except TRANSIENT:
                    _drop_broken_connections()
            left = deadline - time.monotonic()
            if left <= 0:
                raise GaveUp(f"{what} failed: {describe(exc)}. {resume}") from exc
            log.warning("%s: %s; trying again in %.1f s", what, describe(exc), min(pause, left))
            time.sleep(min(pause, left))
            pause = min(pause * 2, 15.0)
