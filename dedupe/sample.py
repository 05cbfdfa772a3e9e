"""A sample archive for the demo and the tests: drawn street photographs with known duplicates.

Pure Pillow and numpy, deterministic for a seed. Writes manifest.csv (what an import reads),
truth.csv (same group = same photograph) and hard_negatives.csv (look-alikes that are not).
"""

import csv
import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

SOURCES = ("assessor-parcels", "building-permits", "encampment-outreach", "housing-cases")
STREETS = ("Temple St", "Figueroa St", "Alvarado St", "Vermont Ave", "Olympic Blvd", "Spring St", "Main St")
SHARE_WITH_COPIES = 0.6
SHARE_WITH_LOOKALIKE = 0.15
# A copy filed by another system sits on that system's record of the same property, its address
# spelled that system's way; this share sits on another property's record (a wrong attachment).
SHARE_WRONGLY_ATTACHED = 0.1
SPELLINGS = {"St": "Street", "Ave": "Avenue", "Blvd": "Boulevard"}


@dataclass(frozen=True)
class SampleArchive:
    root: Path
    manifest: Path
    truth: Path
    hard_negatives: Path
    files: int
    duplicate_pairs: int
    lookalike_pairs: int


@dataclass(frozen=True)
class Scene:
    """What a facade photograph shows; the same scene with another seed is the house next door."""

    sky: tuple[int, int, int]
    wall: tuple[int, int, int]
    floors: int
    bays: int
    roof: bool
    light: float


def random_scene(rng: random.Random) -> Scene:
    return Scene(
        sky=(rng.randrange(90, 170), rng.randrange(140, 200), rng.randrange(200, 250)),
        wall=(rng.randrange(70, 230), rng.randrange(70, 230), rng.randrange(70, 230)),
        floors=rng.randint(1, 4),
        bays=rng.randint(2, 6),
        roof=rng.random() < 0.5,
        light=rng.uniform(0.85, 1.15),
    )


def draw_photo(scene: Scene, size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A facade under a sky, with windows, a door, trees and cars, lit and noisy like a camera's."""
    w, h = size
    im = _sky(scene.sky, size)
    draw = ImageDraw.Draw(im)
    left, right = int(w * rng.uniform(0.06, 0.18)), int(w * rng.uniform(0.82, 0.94))
    top, ground = int(h * rng.uniform(0.18, 0.34)), int(h * 0.86)
    draw.rectangle((left, top, right, ground), fill=scene.wall)
    if scene.roof:
        draw.polygon([(left - w // 30, top), ((left + right) // 2, int(top * 0.35)), (right + w // 30, top)],
                     fill=(110, 55, 40))  # fmt: skip
    _windows(draw, scene, (left, top, right, ground), rng)
    draw.rectangle((0, ground, w, h), fill=(78, 78, 82))
    draw.rectangle((0, ground, w, ground + h // 40), fill=(170, 170, 165))
    for _ in range(rng.randint(1, 3)):
        _tree(draw, rng.randrange(w), ground, h, rng)
    for _ in range(rng.randint(0, 3)):
        _car(draw, rng.randrange(-w // 10, w), ground, h, rng)
    im = ImageEnhance.Brightness(im).enhance(scene.light)
    return _camera(im, rng)


def _sky(colour: tuple[int, int, int], size: tuple[int, int]) -> Image.Image:
    w, h = size
    fade = np.linspace(1.0, 0.75, h)[:, None, None]
    pixels = np.broadcast_to(np.array(colour, dtype=np.float32) * fade, (h, w, 3))
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def _windows(draw: ImageDraw.ImageDraw, scene: Scene, box: tuple[int, int, int, int], rng: random.Random) -> None:
    left, top, right, ground = box
    bay_w = (right - left) / scene.bays
    floor_h = (ground - top) / (scene.floors + 0.6)
    for floor in range(scene.floors):
        for bay in range(scene.bays):
            x0, y0 = left + bay * bay_w + bay_w * 0.22, top + floor * floor_h + floor_h * 0.25
            glass = rng.randrange(30, 120)
            draw.rectangle((x0, y0, x0 + bay_w * 0.56, y0 + floor_h * 0.55), fill=(glass, glass + 10, glass + 40),
                           outline=(235, 235, 230), width=2)  # fmt: skip
    door_x = left + (right - left) * rng.uniform(0.3, 0.6)
    draw.rectangle((door_x, ground - floor_h * 0.55, door_x + bay_w * 0.5, ground), fill=(80, 45, 30))


def _tree(draw: ImageDraw.ImageDraw, x: int, ground: int, h: int, rng: random.Random) -> None:
    trunk = h // 6
    draw.rectangle((x - 4, ground - trunk, x + 4, ground), fill=(90, 60, 35))
    r = rng.randrange(h // 12, h // 6)
    green = (rng.randrange(30, 80), rng.randrange(100, 160), rng.randrange(30, 70))
    draw.ellipse((x - r, ground - trunk - 2 * r, x + r, ground - trunk + r // 2), fill=green)


def _car(draw: ImageDraw.ImageDraw, x: int, ground: int, h: int, rng: random.Random) -> None:
    length, height = rng.randrange(h // 4, h // 3), h // 12
    paint = tuple(rng.randrange(256) for _ in range(3))
    y = ground + h // 30
    draw.rounded_rectangle((x, y - height, x + length, y), radius=height // 3, fill=paint)
    for wheel in (x + length // 5, x + 4 * length // 5):
        draw.ellipse((wheel - height // 3, y - height // 3, wheel + height // 3, y + height // 3), fill=(20, 20, 20))


def _camera(im: Image.Image, rng: random.Random) -> Image.Image:
    """Sensor noise and a little lens softness, so hashes see texture as in real photographs."""
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 6, (im.height, im.width, 3))
    pixels = np.clip(np.asarray(im, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB").filter(ImageFilter.GaussianBlur(0.7))


def _jpeg(im: Image.Image, quality: int = 90, exif: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, **({"exif": exif} if exif else {}))
    return buf.getvalue()


def _encode(im: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


def _exif(pairs: dict[int, object]) -> bytes:
    exif = Image.Exif()
    for tag, value in pairs.items():
        exif[tag] = value
    return exif.tobytes()


def _crop(im: Image.Image, fraction: float) -> Image.Image:
    dx, dy = int(im.width * fraction), int(im.height * fraction)
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def _datestamp(im: Image.Image, rng: random.Random) -> Image.Image:
    im = im.copy()
    stamp = f"2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
    ImageDraw.Draw(im).text((int(im.width * 0.72), int(im.height * 0.93)), stamp, fill=(255, 150, 0))
    return im


def _metadata_only(im: Image.Image) -> tuple[str, bytes]:
    return "jpg", _jpeg(im, 90, _exif({0x010F: "FieldTablet", 0x0132: "2025:03:04 10:11:12"}))


def _half_size(im: Image.Image) -> tuple[str, bytes]:
    return "jpg", _jpeg(im.resize((im.width // 2, im.height // 2), Image.Resampling.BILINEAR), 85)


def _exif_rotated(im: Image.Image) -> tuple[str, bytes]:
    """Pixels stored sideways, EXIF Orientation 6 says how to show them upright."""
    return "jpg", _jpeg(im.transpose(Image.Transpose.ROTATE_90), 90, _exif({0x0112: 6}))


def _letterbox(im: Image.Image) -> tuple[str, bytes]:
    return "jpg", _jpeg(ImageOps.pad(im, (int(im.width * 1.25), im.height), color=(0, 0, 0)), 88)


# How archives copy a photograph: each gives (extension, bytes) of the copy.
TRANSFORMS: dict[str, Callable[[Image.Image, random.Random], tuple[str, bytes]]] = {
    "metadata-only": lambda im, rng: _metadata_only(im),
    "reencode-q60": lambda im, rng: ("jpg", _jpeg(im, 60)),
    "resize-50": lambda im, rng: _half_size(im),
    "crop-4pct": lambda im, rng: ("jpg", _jpeg(_crop(im, 0.04), 88)),
    "exif-rotated": lambda im, rng: _exif_rotated(im),
    "to-png": lambda im, rng: ("png", _encode(im, "PNG", compress_level=3)),
    "to-webp": lambda im, rng: ("webp", _encode(im, "WEBP", quality=82)),
    "brighter": lambda im, rng: ("jpg", _jpeg(ImageEnhance.Brightness(im).enhance(1.12), 88)),
    "datestamp": lambda im, rng: ("jpg", _jpeg(_datestamp(im, rng), 88)),
    "letterbox": lambda im, rng: _letterbox(im),
}


class _Writer:
    """Places files under OUT and remembers the manifest, truth and look-alike rows."""

    def __init__(self, out: Path, rng: random.Random, spelling: random.Random) -> None:
        # Spellings draw from their own generator: the pictures of a seed stay what they were.
        self.out, self.rng, self.spelling = out, rng, spelling
        self.manifest: list[list] = []
        self.truth: list[list] = []
        self.hard: list[list] = []
        self.slots: dict[tuple[str, str], int] = {}

    def record(self, source: str) -> tuple[str, str]:
        return f"{source[:4].upper()}-{self.rng.randrange(10**6):06d}", self._address()

    def _address(self) -> str:
        return f"{self.rng.randrange(100, 9999)} {self.rng.choice(STREETS)}, Los Angeles, CA"

    def place(self, blob: bytes, ext: str, group: str, transform: str, source: str, record: tuple[str, str]) -> str:
        rel = f"images/{source}/{source[:4]}-{len(self.manifest) + 1:05d}.{ext}"
        (self.out / rel).write_bytes(blob)
        slot = self.slots.get((source, record[0]), 0) + 1
        self.slots[(source, record[0])] = slot
        taken = datetime(2023, 1, 1) + timedelta(minutes=self.rng.randrange(3 * 365 * 24 * 60))
        self.manifest.append([rel, source, record[0], slot, record[1], taken.isoformat()])
        self.truth.append([rel, group, transform])
        return rel


def build_sample_archive(
    out: Path, *, originals: int = 24, seed: int = 1, bad: bool = True, megapixels: float = 0.3
) -> SampleArchive:
    """Write a labelled archive under `out` (emptied first if it holds a previous one)."""
    rng = random.Random(seed)
    side = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    size = (side, side * 3 // 4)
    for source in SOURCES:
        (out / "images" / source).mkdir(parents=True, exist_ok=True)
    writer = _Writer(out, rng, random.Random(seed + 1_000_003))
    for number in range(originals):
        _original_with_copies(writer, number, size, rng)
    if bad:
        _bad_inputs(writer, out)
    return _write_csvs(out, writer)


def _original_with_copies(writer: _Writer, number: int, size: tuple[int, int], rng: random.Random) -> None:
    group = f"g{number:05d}"
    scene = random_scene(rng)
    picture = draw_photo(scene, size, rng)
    raw = _jpeg(picture)
    source = rng.choice(SOURCES)
    record = writer.record(source)
    original = writer.place(raw, "jpg", group, "original", source, record)
    if rng.random() < SHARE_WITH_LOOKALIKE:  # the house next door, drawn from the same scene
        twin_source = rng.choice(SOURCES)
        twin = writer.place(_jpeg(draw_photo(scene, size, rng)), "jpg", group + "-lookalike", "lookalike",
                            twin_source, writer.record(twin_source))  # fmt: skip
        writer.hard.append([original, twin])
    if rng.random() >= SHARE_WITH_COPIES:
        return
    if rng.random() < 0.3:  # a field tablet re-sending the same file to the same record
        writer.place(raw, "jpg", group, "byte-copy", source, record)
    for name in rng.sample(sorted(TRANSFORMS), rng.randint(1, 3)):
        copy_source = rng.choice(SOURCES)
        wrong = rng.random() < SHARE_WRONGLY_ATTACHED
        copy_record = writer.record(copy_source)
        if not wrong:
            copy_record = (copy_record[0], _respelled(record[1], writer.spelling))
        ext, blob = TRANSFORMS[name](picture, rng)
        writer.place(blob, ext, group, name, copy_source, copy_record)


def _respelled(address: str, rng: random.Random) -> str:
    """The same property as another record system writes it: capitals, the street type in full,
    with or without the city and a ZIP."""
    number_street, _, _ = address.partition(",")
    number, street = number_street.split(" ", 1)
    name, kind = street.rsplit(" ", 1)
    street = f"{name} {SPELLINGS.get(kind, kind)}" if rng.random() < 0.5 else street
    city = rng.choice(["", ", Los Angeles, CA", f", Los Angeles, CA 900{rng.randint(10, 99)}"])
    spelled = f"{number} {street}{city}"
    return spelled.upper() if rng.random() < 0.5 else spelled


def _bad_inputs(writer: _Writer, out: Path) -> None:
    """Each kind of malformed file a real archive holds, one record each in housing-cases."""
    folder = out / "images" / "housing-cases" / "bad"
    folder.mkdir(parents=True, exist_ok=True)
    good = (out / writer.manifest[0][0]).read_bytes()
    noise = random.Random(3)
    middle = len(good) // 2
    files = {
        "truncated.jpg": good[: len(good) // 3],
        "zero-bytes.jpg": b"",
        "scanned-form.jpg": b"%PDF-1.4\n% a scanned form, not a photograph\n",
        "gateway-error.png": b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        "corrupt-middle.jpg": good[:middle] + bytes(noise.randrange(256) for _ in range(4000)) + good[middle + 4000 :],
        "bomb.png": _png_bomb(50000),
    }
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
        rel = f"images/housing-cases/bad/{name}"
        writer.manifest.append([rel, "housing-cases", f"HOUS-BAD-{name.split('.')[0].upper()}", 1, "unknown", ""])
        writer.truth.append([rel, "bad", name])
    for rel, record in (("images/housing-cases/missing-photo.jpg", "HOUS-MISSING"), ("../outside.jpg", "HOUS-ESCAPE")):
        writer.manifest.append([rel, "housing-cases", record, 1, "unknown", ""])
        writer.truth.append([rel, "bad", record.split("-")[1].lower()])


def _png_bomb(side: int) -> bytes:
    """A small, valid PNG whose header claims side x side pixels."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * (side // 8 + 1) * 256, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _write_csvs(out: Path, writer: _Writer) -> SampleArchive:
    tables = {
        "manifest.csv": (["path", "source", "record_id", "slot", "address", "captured_at"], writer.manifest),
        "truth.csv": (["path", "group", "transform"], writer.truth),
        "hard_negatives.csv": (["path_a", "path_b"], writer.hard),
    }
    for name, (header, rows) in tables.items():
        with open(out / name, "w", newline="") as f:
            csv_writer = csv.writer(f)
            csv_writer.writerow(header)
            csv_writer.writerows(rows)
    groups: dict[str, int] = {}
    for _, group, _ in writer.truth:
        if group != "bad":
            groups[group] = groups.get(group, 0) + 1
    pairs = sum(len(list(combinations(range(n), 2))) for n in groups.values())
    return SampleArchive(
        root=out,
        manifest=out / "manifest.csv",
        truth=out / "truth.csv",
        hard_negatives=out / "hard_negatives.csv",
        files=len(writer.manifest),
        duplicate_pairs=pairs,
        lookalike_pairs=len(writer.hard),
    )
