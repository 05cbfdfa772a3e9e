"""What decoding in the sandbox costs, against the same work done in the worker's own process.

    .venv/bin/python bench/sandbox.py FOLDER [--files N]

FOLDER holds photographs (e.g. `make_corpus.py OUT --megapixels 12`, or `manage.py
make_sample_archive OUT`). Baseline, in the same run on the same bytes: `dedupe.sandbox`'s own
inspection function called in this process, file by file (header, reduced upright decode, hashes,
local features, thumbnail): exactly the work, none of the isolation. Ours: `Sandbox.inspect` in
chunks of DEDUPE_INSPECT_CHUNK, as a worker runs it (a fork per chunk, the bytes through a pipe,
answers as JSON lines checked field by field). Wall-clock times; the decoder's start (once per
worker process) is reported apart.
"""

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from dedupe import imaging, sandbox  # noqa: E402

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".heic"}


def in_process(items: list[tuple[int, bytes]], params: dict) -> float:
    started = time.perf_counter()
    for _, data in items:
        with contextlib.suppress(imaging.UnreadableImage):
            sandbox.OPERATIONS["inspect"](data, **params)
    return time.perf_counter() - started


def sandboxed(box: sandbox.Sandbox, items: list[tuple[int, bytes]], limits: sandbox.Limits, chunk: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(items), chunk):
        box.inspect(
            items[i : i + chunk],
            limits=limits,
            min_side=settings.DEDUPE_DECODE_SIDE,
            thumbnail_side=settings.DEDUPE_THUMBNAIL_SIZE,
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--files", type=int, default=192)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    paths = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)[: args.files]
    items = [(n, p.read_bytes()) for n, p in enumerate(paths)]
    limits = sandbox.Limits(settings.DEDUPE_MAX_IMAGE_PIXELS, settings.DEDUPE_MAX_DECODED_BYTES)
    params = {
        "max_pixels": limits.max_pixels,
        "max_decoded_bytes": limits.max_decoded_bytes,
        "min_side": settings.DEDUPE_DECODE_SIDE,
        "thumbnail_side": settings.DEDUPE_THUMBNAIL_SIZE,
    }
    imaging.load_decoders()
    sandbox._warm_up()  # the same modules loaded on both sides before timing
    box = sandbox.Sandbox(memory_bytes=settings.DEDUPE_DECODE_MEMORY_BYTES, cpu_seconds=20)
    started = time.perf_counter()
    box.inspect(items[:1], limits=limits, min_side=64, thumbnail_side=64)
    start_up = time.perf_counter() - started
    base, ours = [], []
    for _ in range(args.rounds):  # interleaved, so a busy moment costs both sides alike
        base.append(in_process(items, params))
        ours.append(sandboxed(box, items, limits, settings.DEDUPE_INSPECT_CHUNK))
    box.close()
    b, o = statistics.median(base) / len(items) * 1000, statistics.median(ours) / len(items) * 1000
    print(f"{len(items)} files from {args.folder}, chunks of {settings.DEDUPE_INSPECT_CHUNK}, median of {args.rounds}")
    print(f"baseline  in the worker's process: {b:6.1f} ms/file")
    print(f"ours      in the sandbox:          {o:6.1f} ms/file   ratio {o / b:.2f}x")
    print(f"decoder start (once per worker process): {start_up * 1000:.0f} ms")


if __name__ == "__main__":
    main()
