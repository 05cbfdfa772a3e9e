"""Decoding hostile files in a child process that can do nothing else.

Every pixel and every header byte of an imported file is read here, never in a worker or the
site: a decoder bug (there have been many, in every image library) then costs at most the one
request that met it. The child:

- is a fresh interpreter started with a clean environment (no secret key, no database address)
  in a private temporary folder, importing nothing of Django;
- forks one grandchild per request, which, before it touches the file, caps its address space
  and CPU time, may write no file (`RLIMIT_FSIZE` 0) and may open no file or socket at all
  (`RLIMIT_NOFILE` at the three standard streams), so it cannot read the worker's files or
  reach the database: it can only answer on its pipe;
- answers in JSON lines that the parent checks field by field (never pickle: a subverted child
  must not be able to run code in the parent by what it sends back).

The same OS user runs parent and child, so this is defence in depth, not a jail: run workers as
a user that can read nothing but the media folder for more.
"""

import base64
import hashlib
import io
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from PIL import Image

from . import imaging, partial

# What the caller of Sandbox.inspect is handed each item's hashes with, ahead of the rest.
Hashed = Callable[[int, imaging.Prints], None]
# The longest line the parent accepts: a thumbnail of 640 px as WebP is well under 1 MB.
MAX_LINE = 8 * 1024 * 1024
# Environment handed to the decoder: only what the interpreter and numpy need.
CHILD_ENV = {
    "PATH": os.defpath,
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",  # threads in libheif would otherwise each reserve a 64 MB arena
}
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The allowed formats Pillow writes EXIF into (for the warm-up; it reads it from all of them).
EXIF_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")


@dataclass(frozen=True)
class Limits:
    """What a file may claim in its header before it is refused without decoding."""

    max_pixels: int
    max_decoded_bytes: int


@dataclass(frozen=True)
class Inspection:
    probe: imaging.Probe
    prints: imaging.Prints
    features: partial.Features


@dataclass(frozen=True)
class Failure:
    """The file could not be read; `reason` is for a person."""

    reason: str


class _CallerFailed(Exception):  # noqa: N818 - carries the caller's own exception out of the reading loop
    """The caller's `hashed` raised; its exception is the cause, and is what the caller gets back."""


class SandboxBroken(Exception):
    """The decoder process stopped answering as it should; it is replaced before the next request."""


def enter_sandbox(*, memory_bytes: int, cpu_seconds: float) -> None:
    """Cap this process before it reads a hostile byte: memory, CPU, no new files, no writes."""
    resource.setrlimit(resource.RLIMIT_AS, (_address_space() + memory_bytes,) * 2)
    used = _cpu_used()
    hard = math.ceil(used + cpu_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (hard - 1, hard))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))  # stdin, stdout, stderr: nothing more


def _address_space() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _item_cpu(per_item: float) -> None:
    """Give the next file its own CPU allowance within the request's total."""
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    resource.setrlimit(resource.RLIMIT_CPU, (min(hard, math.ceil(_cpu_used() + per_item)), hard))


# --- the child's side -------------------------------------------------------------------------


def _serve() -> None:
    """The decoder process: read a request, fork a capped grandchild to answer it, report its end."""
    _warm_up()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = stdin.readline(MAX_LINE)
        if not header:
            return
        request = json.loads(header)
        payloads = [stdin.read(size) for _, size in request["items"]]
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _answer(request, payloads, stdout)
            except BaseException:  # noqa: BLE001 - whatever happened, the exit code tells the parent
                code = 70
            finally:
                os._exit(code)
        stdout.write(json.dumps({"end": _wait(pid, request["wall_seconds"])}).encode() + b"\n")
        stdout.flush()


def _warm_up() -> None:
    """Import every module decoding can reach now: the capped grandchild cannot open one later."""
    imaging.load_decoders()
    exif = Image.Exif()  # orientation and dates: EXIF parsing and _strptime load lazily
    exif[imaging.TAG_ORIENTATION], exif[imaging.TAG_DATETIME] = 6, "2000:01:01 00:00:00"
    exif.get_ifd(imaging.IFD_EXIF)[imaging.TAG_DATETIME_ORIGINAL] = "2000:01:01 00:00:00"
    for fmt in imaging.ALLOWED_FORMATS:
        buffer = io.BytesIO()
        with_exif = {"exif": exif.tobytes()} if fmt in EXIF_FORMATS else {}
        Image.new("RGB", (96, 64), (90, 120, 60)).save(buffer, fmt, **with_exif)
        _inspect(buffer.getvalue(), max_pixels=10**6, max_decoded_bytes=10**7, min_side=32, thumbnail_side=48)
        _pixels(buffer.getvalue(), max_pixels=10**6, max_decoded_bytes=10**7)
    # A textured picture, so that every path of the feature detector has run (and loaded) once.
    noise = Image.effect_noise((160, 120), 64).convert("RGB")
    partial.relate(partial.local_features(noise), partial.local_features(noise))


def _wait(pid: int, wall_seconds: float) -> str:
    """How the grandchild ended: "ok", "exit N", "signal NAME" or "timeout"."""

    def expire(*_: object) -> None:
        raise TimeoutError

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, wall_seconds)
    try:
        _, status = os.waitpid(pid, 0)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return "timeout"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    code = os.WEXITSTATUS(status)
    return "ok" if code == 0 else f"exit {code}"


def _answer(request: dict, payloads: list[bytes], out: BinaryIO) -> None:
    enter_sandbox(memory_bytes=request["memory_bytes"], cpu_seconds=request["cpu_seconds"] * len(payloads))
    params = dict(request["params"])
    early = params.pop("early", False)
    for (item_id, _), data in zip(request["items"], payloads, strict=True):
        _item_cpu(request["cpu_seconds"])

        def tell(value: dict, item_id: int = item_id) -> None:
            out.write(json.dumps({"id": item_id, "early": value}).encode() + b"\n")
            out.flush()

        answer: dict[str, Any]
        try:
            answer = {"ok": OPERATIONS[request["op"]](data, **params, **({"tell": tell} if early else {}))}
        except imaging.UnreadableImage as exc:
            answer = {"problem": str(exc)}
        except MemoryError:
            answer = {"problem": f"decoding needs more memory than the decoder may use ({_mib(request)})"}
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a fact about this file
            answer = {"problem": f"corrupt image data: {type(exc).__name__}: {exc}"[:500]}
        out.write(json.dumps({"id": item_id, **answer}).encode() + b"\n")
        out.flush()


def _inspect(
    data: bytes,
    *,
    max_pixels: int,
    max_decoded_bytes: int,
    min_side: int,
    thumbnail_side: int,
    tell: Callable[[dict], None] | None = None,
) -> dict:
    """Header, then the reduced upright decode, fingerprints and thumbnail: everything an asset needs.

    With `tell`, the header and hashes are sent ahead, before the thumbnail and local features
    are made: the gate looks the hashes up in the archive meanwhile (Sandbox.inspect's `hashed`).
    """
    probe = imaging.probe_bytes(data, max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes)
    im = imaging.decode_upright(data, min_side=min_side, orientation=probe.orientation)
    thumb = imaging.shrunk(im, thumbnail_side)
    hashes = imaging.hashes(thumb)
    if tell is not None:
        tell({"prints": _print_fields(hashes)})
    prints = replace(hashes, thumbnail=imaging.webp(thumb))
    features = partial.local_features(im).to_fields()
    return {
        "features": {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in features.items()},
        "probe": _probe_fields(probe),
        "prints": _print_fields(prints),
    }


def _probe_fields(probe: imaging.Probe) -> dict:
    return asdict(probe) | {"captured_at": probe.captured_at.isoformat() if probe.captured_at else None}


def _print_fields(prints: imaging.Prints) -> dict:
    return asdict(prints) | {
        "phash256": prints.phash256.hex(),
        "phash256_zoom": prints.phash256_zoom.hex(),
        "phash256_mirror": prints.phash256_mirror.hex(),
        "thumbnail": base64.b64encode(prints.thumbnail).decode(),
    }


def _pixels(data: bytes, *, max_pixels: int, max_decoded_bytes: int) -> dict:
    """SHA-256 of the upright pixels at full size: equal for a copy that only rewrote metadata."""
    probe = imaging.probe_bytes(data, max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes)
    im = imaging.decode_upright(data, min_side=1 << 30, orientation=probe.orientation)
    return {"sha256": hashlib.sha256(im.tobytes()).hexdigest()}


OPERATIONS: dict[str, Callable[..., dict]] = {"inspect": _inspect, "pixels": _pixels}


def _mib(request: dict) -> str:
    return f"{request['memory_bytes'] // 2**20:,} MiB"


# --- the parent's side ------------------------------------------------------------------------


class Sandbox:
    """One decoder process, started on first use and replaced whenever it misbehaves."""

    def __init__(self, *, memory_bytes: int, cpu_seconds: float) -> None:
        self.memory_bytes = memory_bytes
        self.cpu_seconds = cpu_seconds
        self._process: subprocess.Popen | None = None
        self._folder: tempfile.TemporaryDirectory | None = None
        self._lock = threading.Lock()

    def inspect(
        self,
        items: list[tuple[int, bytes]],
        *,
        limits: Limits,
        min_side: int,
        thumbnail_side: int,
        hashed: Hashed | None = None,
    ) -> dict:
        """(id, bytes) items to Inspection, or Failure with the reason a person reads.

        `hashed(id, prints)` is called with each item's hashes (no thumbnail yet) as soon as the
        grandchild has them, while it goes on to the thumbnail and local features: the gate's
        lookup and the decoder then work at the same time. If it raises, the decoder is replaced
        (its answer is read by no one) and the exception goes to the caller.
        """
        params = asdict(limits) | {"min_side": min_side, "thumbnail_side": thumbnail_side, "early": hashed is not None}
        return self._run("inspect", items, params, hashed)

    def pixel_digests(self, items: list[tuple[int, bytes]], *, limits: Limits) -> dict:
        """(id, bytes) items to the SHA-256 of their full-size upright pixels (hex), or Failure."""
        return self._run("pixels", items, asdict(limits))

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def _run(self, op: str, items: list[tuple[int, bytes]], params: dict, hashed: Hashed | None = None) -> dict:
        """Answer every item; a file that stops the grandchild is reported and the rest sent again."""
        results: dict[int, Any] = {}
        with self._lock:
            while len(results) < len(items):
                todo = [item for item in items if item[0] not in results]
                try:
                    answers, failure = self._request(op, todo, params, hashed)
                except _CallerFailed as failed:
                    raise failed.__cause__ or failed from None
                results.update(answers)
                if failure is not None:
                    self.close()
                    if len(answers) < len(todo):
                        results[todo[len(answers)][0]] = Failure(failure)  # the file it was on when it stopped
        return results

    def _request(
        self, op: str, items: list[tuple[int, bytes]], params: dict, hashed: Hashed | None = None
    ) -> tuple[dict, str | None]:
        """Send one request: the answers, and why the grandchild stopped early (None when it did not).

        Raises SandboxBroken when the decoder process itself is gone: that is not the file's doing.
        """
        process = self._started()
        stdin, stdout = process.stdin, process.stdout
        assert stdin is not None and stdout is not None  # both are pipes, see _started
        request = {
            "op": op,
            "items": [[item_id, len(data)] for item_id, data in items],
            "params": params,
            "memory_bytes": self.memory_bytes,
            "cpu_seconds": self.cpu_seconds,
            "wall_seconds": 10 + 3 * self.cpu_seconds * len(items),
        }
        answers: dict[int, Any] = {}
        try:
            stdin.write(json.dumps(request).encode() + b"\n")
            for _, data in items:
                stdin.write(data)
            stdin.flush()
            for item_id, _ in items:
                line = _line(stdout)
                if "early" in line and hashed is not None:
                    self._tell(hashed, item_id, _checked_early(item_id, line))
                    line = _line(stdout)
                if "end" in line:
                    return answers, _stopped_reason(line["end"], self.cpu_seconds)
                answers[item_id] = _checked(op, item_id, line)
            end = _line(stdout)
        except (OSError, EOFError) as exc:
            self.close()
            raise SandboxBroken(f"the decoder process is gone ({exc or type(exc).__name__})") from None
        except (ValueError, KeyError, TypeError) as exc:
            return answers, f"the decoder answered out of turn on this file ({exc}); it may be crafted to attack it"
        if end != {"end": "ok"}:
            return answers, _stopped_reason(str(end.get("end")), self.cpu_seconds)
        return answers, None

    def _tell(self, hashed: Hashed, item_id: int, prints: imaging.Prints) -> None:
        try:
            hashed(item_id, prints)
        except BaseException as exc:
            self.close()  # the rest of its answer would be read by no one
            raise _CallerFailed from exc

    def _started(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self.close()
            self._folder = tempfile.TemporaryDirectory(prefix="dedupe-decoder-")
            env = {**CHILD_ENV, "TMPDIR": self._folder.name, "PYTHONPATH": str(PROJECT_ROOT)}
            self._process = subprocess.Popen(
                [sys.executable, "-s", "-m", "dedupe.sandbox"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=self._folder.name,
                env=env,
            )
        return self._process


def _line(stdout: IO[bytes]) -> dict:
    line = stdout.readline(MAX_LINE + 1)
    if not line:
        raise EOFError("no answer")
    if not line.endswith(b"\n"):
        raise ValueError("an answer longer than allowed")
    value = json.loads(line)
    if not isinstance(value, dict):
        raise ValueError("an answer that is not an object")
    return value


def _stopped_reason(end: str, cpu_seconds: float) -> str:
    if end == "signal SIGXCPU" or end == "timeout":
        return f"the decoder was stopped: this file took more than {cpu_seconds:g} s to decode"
    if end in ("signal SIGKILL", "signal SIGSEGV", "signal SIGABRT", "signal SIGBUS"):
        return f"the decoder crashed on this file ({end.removeprefix('signal ')}); it may be crafted to attack it"
    return f"the decoder failed on this file ({end})"


def _checked(op: str, item_id: int, line: dict) -> "Inspection | str | Failure":
    """An answer as a value, every field type-checked: the child is not trusted."""
    if line.get("id") != item_id:
        raise ValueError(f"an answer for {line.get('id')!r} where {item_id} was expected")
    if "problem" in line:
        return Failure(_text(line["problem"]))
    ok = line["ok"]
    if op == "pixels":
        return bytes.fromhex(_text(ok["sha256"])).hex()
    probe = ok["probe"]
    captured, orientation = probe["captured_at"], probe["orientation"]
    return Inspection(
        probe=imaging.Probe(
            format=_text(probe["format"])[:16],
            width=_int(probe["width"]),
            height=_int(probe["height"]),
            orientation=None if orientation is None else _int(orientation),
            captured_at=None if captured is None else datetime.fromisoformat(_text(captured)),
            jpeg_quality=None if probe["jpeg_quality"] is None else _int(probe["jpeg_quality"]),
        ),
        prints=_prints(ok["prints"]),
        features=_features(ok["features"]),
    )


def _checked_early(item_id: int, line: dict) -> imaging.Prints:
    """An item's hashes sent ahead of its answer, checked as the answer's are (no thumbnail yet)."""
    if line.get("id") != item_id:
        raise ValueError(f"hashes for {line.get('id')!r} where {item_id} was expected")
    return _prints(line["early"]["prints"])


def _prints(prints: dict) -> imaging.Prints:
    return imaging.Prints(
        phash=_int(prints["phash"]),
        dhash=_int(prints["dhash"]),
        phash_zoom=_int(prints["phash_zoom"]),
        phash256=bytes.fromhex(_text(prints["phash256"])),
        phash256_zoom=bytes.fromhex(_text(prints["phash256_zoom"])),
        thumbnail=base64.b64decode(_text(prints["thumbnail"]), validate=True),
        phash_mirror=_int(prints["phash_mirror"]),
        phash256_mirror=_hash256(prints["phash256_mirror"]),
        content_width=_share(prints["content_width"]),
        content_height=_share(prints["content_height"]),
    )


def _hash256(value: object) -> bytes:
    raw = bytes.fromhex(_text(value))
    if len(raw) != 32:
        raise ValueError(f"a 256-bit hash of {len(raw)} bytes")
    return raw


def _features(value: dict) -> partial.Features:
    """Local features as arrays, their sizes checked against each other (ValueError otherwise)."""

    def raw(key: str) -> bytes:
        return base64.b64decode(_blob(value[key]), validate=True)

    return partial.features_from_fields(
        feature_width=_int(value["feature_width"]), feature_height=_int(value["feature_height"]),
        keypoints=raw("keypoints"), descriptors=raw("descriptors"), grey=raw("grey"),
        grey_width=_int(value["grey_width"]), chroma=raw("chroma"),
    )  # fmt: skip


def _blob(value: object) -> str:
    """Base64 text of at most a few dozen kilobytes (the features), unlike _text's 1000 characters."""
    if not isinstance(value, str) or len(value) > 64 * 1024:
        raise ValueError("binary field is not base64 text of a permitted length")
    return value


def _share(value: object) -> float:
    """A fraction of a side: a float in (0, 1]."""
    if type(value) is not float or not 0.0 < value <= 1.0:
        raise ValueError(f"{value!r} is not a share of a side")
    return value


def _int(value: object) -> int:
    if type(value) is not int or not -(2**63) <= value < 2**63:
        raise ValueError(f"{value!r} is not a 64-bit integer")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value[:1000]


_sandboxes: dict[tuple[int, int, float], Sandbox] = {}


def sandbox(*, memory_bytes: int, cpu_seconds: float) -> Sandbox:
    """This process's decoder (a forked worker gets its own, never its parent's pipes)."""
    key = (os.getpid(), memory_bytes, cpu_seconds)
    if key not in _sandboxes:
        _sandboxes[key] = Sandbox(memory_bytes=memory_bytes, cpu_seconds=cpu_seconds)
    return _sandboxes[key]


if __name__ == "__main__":
    _serve()
