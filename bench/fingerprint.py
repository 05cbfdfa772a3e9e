"""Fingerprinting throughput per core on phone-sized JPEGs, against the naive imagehash calls.

    .venv/bin/python bench/fingerprint.py [FOLDER]

FOLDER holds JPEGs (default: builds one with ../shared/corpus/make_corpus.py --megapixels 12).
Baseline, in the same run on the same files: `imagehash.phash(Image.open(p))` plus
`imagehash.dhash(Image.open(p))`. Ours does everything an asset needs: read the bytes, SHA-256,
header and EXIF, one reduced upright decode, pHash, dHash, the crop hash, the two 256-bit
hashes, the mirror image's hashes, the WebP thumbnail and the local features of partial copies
(ORB, small grey and colour images); its cost is also given against the same without the local
features (the cost before partial copies). Also reports how far the fast path's hashes are from a
full decode.
"""

import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

from dedupe import imaging, partial  # noqa: E402

DECODE_SIDE = 256
THUMBNAIL = 640


def ours(path: Path, *, local_features: bool = True) -> imaging.Prints:
    data = path.read_bytes()
    hashlib.sha256(data).hexdigest()
    probe = imaging.probe(io.BytesIO(data), max_pixels=200_000_000)
    im = imaging.decode_upright(data, min_side=DECODE_SIDE, orientation=probe.orientation)
    if local_features:
        partial.local_features(im)
    return imaging.fingerprint(im, thumbnail_side=THUMBNAIL)


def ours_without_local_features(path: Path) -> imaging.Prints:
    return ours(path, local_features=False)


def naive(path: Path) -> tuple:
    return imagehash.phash(Image.open(path)), imagehash.dhash(Image.open(path))


def full_decode(path: Path) -> imaging.Prints:
    im = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    return imaging.fingerprint(im, thumbnail_side=THUMBNAIL)


def timed(fn, files: list[Path]) -> float:
    started = time.process_time()
    for path in files:
        fn(path)
    return len(files) / (time.process_time() - started)


def bits(a: int, b: int) -> int:
    return bin((a ^ b) & (2**64 - 1)).count("1")


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/dedupe-bench-12mp")
    if not folder.exists():
        corpus = ROOT.parent / "shared" / "corpus" / "make_corpus.py"
        subprocess.run([sys.executable, corpus, folder, "--originals", "30", "--megapixels", "12"], check=True)
    files = sorted(p for p in folder.rglob("*.jpg") if Image.open(p).width * Image.open(p).height > 8_000_000)
    if not files:
        raise SystemExit(f"{folder}: no JPEG over 8 megapixels")
    timed(ours, files[:2])  # warm the imports and caches before measuring
    baseline = timed(naive, files)
    fast = timed(ours, files)
    without = timed(ours_without_local_features, files)
    print(f"{len(files)} JPEGs over 8 MP in {folder}; one core (process CPU time)")
    print(f"baseline  imagehash.phash + dhash, naive open: {baseline:6.1f} files/s ({1000 / baseline:5.1f} ms/file)")
    print(f"ours      everything an asset needs:          {fast:6.1f} files/s ({1000 / fast:5.1f} ms/file)")
    print(f"ratio     ours / baseline:                    {fast / baseline:6.2f}x")
    print(f"without the local features of partial copies: {without:6.1f} files/s; with them the cost per "
          f"file is {without / fast:.2f}x")  # fmt: skip
    agreement = {"phash": [], "dhash": [], "phash_zoom": []}
    for path in files:
        a, b = ours(path), full_decode(path)
        for name, values in agreement.items():
            values.append(bits(getattr(a, name), getattr(b, name)))
    for name, values in agreement.items():
        print(f"fast path vs full decode, {name:10s}: mean {np.mean(values):.2f} bits, worst {max(values)} bits")


if __name__ == "__main__":
    main()
