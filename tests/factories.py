"""Small fixtures made on the fly: photographs, bad files and manifests. Nothing from ../shared."""

import csv
import io
import random
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

MANIFEST_HEADER = ["path", "source", "record_id", "slot", "address", "captured_at"]


def photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A picture with structure at every scale (shapes, gradient, noise), distinct per seed."""
    rng = random.Random(seed)
    w, h = size
    im = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(14):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(w // 8, w // 2), y0 + rng.randrange(h // 8, h // 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)((x0, y0, x1, y1), fill=colour)
    # Noise from the seed: Image.effect_noise draws from the C library's rand(), so a picture
    # would depend on every test that ran before it in the process.
    grain = np.random.default_rng(seed).normal(128, 18, (h, w)).clip(0, 255).astype(np.uint8)
    noise = Image.fromarray(grain, "L").convert("RGB")
    return Image.blend(im, noise, 0.12).filter(ImageFilter.GaussianBlur(0.6))


def jpeg_bytes(im: Image.Image, quality: int = 90, exif: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, **({"exif": exif} if exif else {}))
    return buf.getvalue()


def png_bomb(side: int = 50000) -> bytes:
    """A valid little PNG whose header claims side x side pixels."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * (side // 8 + 2) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def bad_files(good_jpeg: bytes) -> dict[str, bytes]:
    """Each kind of malformed file a real archive holds, by file name."""
    rng = random.Random(5)
    middle = len(good_jpeg) // 2
    return {
        "truncated.jpg": good_jpeg[: len(good_jpeg) // 3],
        "empty.jpg": b"",
        "not-an-image.jpg": b"%PDF-1.4\n% a scanned form\n",
        "error-page.png": b"<html><body>502 Bad Gateway</body></html>",
        "corrupt-middle.jpg": good_jpeg[:middle]
        + bytes(rng.randrange(256) for _ in range(3000))
        + good_jpeg[middle + 3000 :],
        "bomb.png": png_bomb(),
    }


def write_manifest(root: Path, rows: list[list]) -> Path:
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(MANIFEST_HEADER)
        writer.writerows(rows)
    return manifest


def small_archive(root: Path, *, photos: int = 4, bad: bool = True) -> Path:
    """`photos` distinct JPEGs in `permits`, one byte copy in `cases`, and the bad files; returns the manifest."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    first = b""
    for i in range(photos):
        data = jpeg_bytes(photo(i))
        first = first or data
        (images / f"p{i}.jpg").write_bytes(data)
        rows.append([f"images/p{i}.jpg", "permits", f"P-{i}", 1, f"{100 + i} Temple St", "2024-03-01T10:00:00"])
    (images / "copy.jpg").write_bytes(first)
    rows.append(["images/copy.jpg", "cases", "C-1", 1, "100 Temple St", ""])
    if bad:
        for name, blob in bad_files(first).items():
            (images / name).write_bytes(blob)
            rows.append([f"images/{name}", "cases", f"BAD-{name}", 1, "unknown", ""])
        rows.append(["images/missing.jpg", "cases", "MISSING", 1, "unknown", ""])
        rows.append(["../escape.jpg", "cases", "ESCAPE", 1, "unknown", ""])
        rows.append(["/etc/hostname", "cases", "ABSOLUTE", 1, "unknown", ""])
    return write_manifest(root, rows)


def png_bytes(im: Image.Image, compress_level: int = 6, note: str = "") -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if note:
        info.add_text("Comment", note)
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=compress_level, pnginfo=info)
    return buf.getvalue()


def exif_rotated_jpeg(im: Image.Image) -> bytes:
    """Pixels stored sideways with EXIF Orientation 6: shown upright, it is the same photograph."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg_bytes(im.transpose(Image.Transpose.ROTATE_90), 90, exif.tobytes())


def letterboxed(im: Image.Image) -> Image.Image:
    w, h = im.size
    out = Image.new("RGB", (int(w * 1.25), h), (0, 0, 0))
    out.paste(im, ((out.width - w) // 2, 0))
    return out


def cropped(im: Image.Image, fraction: float = 0.05) -> Image.Image:
    w, h = im.size
    return im.crop((int(w * fraction), int(h * fraction), w - int(w * fraction), h - int(h * fraction)))


def screenshot(im: Image.Image) -> Image.Image:
    """The photo in a record viewer's window: a title bar, a side panel of text, uneven margins."""
    canvas = Image.new("RGB", (im.width + 260, im.height + 130), (238, 238, 242))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, canvas.width, 28), fill=(40, 60, 110))
    for i in range(6):
        draw.text((8, 50 + 16 * i), f"field {i}: {1000 + i}", fill=(60, 60, 60))
    canvas.paste(im, (200, 70))
    return canvas


def duplicates_archive(root: Path, *, partial: bool = False) -> tuple[Path, dict[str, set[frozenset[str]]]]:
    """Six photographs, five with copies made the ways archives make them; returns the manifest and,
    by kind, the pairs of paths that are the same photograph. With `partial`, the sixth also has
    partial copies that share no address with it, so only their content can find them: a tight
    crop and a mirror image on another property's record, a screenshot of the case viewer on a
    record with no address; and a seventh scene is there only as two overlapping framings, on two
    properties' records, which are different photographs."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    base = {i: photo(100 + i) for i in range(6)}
    files["p0.jpg"] = jpeg_bytes(base[0])
    files["p0-reupload.jpg"] = files["p0.jpg"]
    files["p1.png"] = png_bytes(base[1])
    files["p1-resaved.png"] = png_bytes(base[1], compress_level=1, note="re-saved by the permit system")
    files["p2.jpg"] = jpeg_bytes(base[2])
    files["p2-small.jpg"] = jpeg_bytes(base[2].resize((320, 240), Image.Resampling.BILINEAR), 70)
    files["p2-rotated.jpg"] = exif_rotated_jpeg(base[2])
    files["p3.jpg"] = jpeg_bytes(base[3])
    files["p3-letterbox.jpg"] = jpeg_bytes(letterboxed(base[3]))
    files["p4.jpg"] = jpeg_bytes(base[4])
    files["p4-crop.jpg"] = jpeg_bytes(cropped(base[4]))
    files["p5.jpg"] = jpeg_bytes(base[5])
    if partial:
        files["p5-door.jpg"] = jpeg_bytes(base[5].crop((180, 110, 580, 410)))  # 62 % of each side
        files["p5-viewer.png"] = png_bytes(screenshot(base[5]))
        files["p5-flipped.jpg"] = jpeg_bytes(base[5].transpose(Image.Transpose.FLIP_LEFT_RIGHT))
        scene = photo(106, (960, 480))  # two framings sharing 40 % of their width
        files["p6-left.jpg"] = jpeg_bytes(scene.crop((0, 0, 672, 480)))
        files["p6-right.jpg"] = jpeg_bytes(scene.crop((288, 0, 960, 480)))
    elsewhere = {"p4-crop.jpg": "99 Other Ave", "p5-flipped.jpg": "99 Other Ave", "p5-door.jpg": "7 Elm Rd",
                 "p5-viewer.png": "", "p6-left.jpg": "12 Oak Ln", "p6-right.jpg": "14 Oak Ln"}  # fmt: skip
    rows = []
    for n, (name, blob) in enumerate(files.items()):
        (images / name).write_bytes(blob)
        source = "permits" if n % 2 == 0 else "cases"
        address = elsewhere.get(name, "1 Main St")
        rows.append([f"images/{name}", source, f"R-{name.split('.')[0]}", 1, address, ""])
    pair = lambda a, b: frozenset({f"images/{a}", f"images/{b}"})  # noqa: E731
    expected = {
        "exact": {pair("p0.jpg", "p0-reupload.jpg")},
        "pixel": {pair("p1.png", "p1-resaved.png")},
        "near": {
            pair("p2.jpg", "p2-small.jpg"), pair("p2.jpg", "p2-rotated.jpg"), pair("p2-small.jpg", "p2-rotated.jpg"),
            pair("p3.jpg", "p3-letterbox.jpg"), pair("p4.jpg", "p4-crop.jpg"),
        },
    }  # fmt: skip
    if partial:
        # On no common property, the door spans 44 % of the viewer's width: a detail of it, not a
        # copy (partials.STRANGERS_MIN_SIDE);
        # both are paired with p5, so the desk shows the three as one group.
        expected["partial"] = {pair("p5.jpg", "p5-door.jpg"), pair("p5.jpg", "p5-viewer.png"),
                               pair("p5.jpg", "p5-flipped.jpg")}  # fmt: skip
    return write_manifest(root, rows), expected


def user_with_role(username: str, role: str, sources: tuple = ()):
    """A person with one role; a caseworker is assigned the given sources."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from review.models import SourceAssignment

    user = get_user_model().objects.create_user(username, password="pw-for-tests-only")
    user.groups.add(Group.objects.get_or_create(name=role)[0])  # a flushed test database lost the migration's rows
    for source in sources:
        SourceAssignment.objects.create(user=user, source=source)
    return user


def archive_rows(slug: str, *, records: int = 2, address: str = "1 Main St"):
    """A source with records, each showing one readable asset with a stored thumbnail."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from dedupe.models import Asset, Attachment, Record, Source

    source = Source.objects.create(slug=slug, name=slug.replace("-", " ").title())
    made = []
    for n in range(records):
        record = Record.objects.create(source=source, external_id=f"{slug[:4].upper()}-{n}", address=address)
        buf = io.BytesIO()
        photo(n, (64, 48)).save(buf, "WEBP")
        thumb = default_storage.save(f"thumbnails/{slug}-{n}.webp", ContentFile(buf.getvalue()))
        asset = Asset.objects.create(
            source=source, origin_path=f"{slug}/{n}.jpg", sha256=f"{n:064d}", byte_size=1000 + n,
            storage_name=f"assets/{slug}-{n}.jpg", format="JPEG", width=640, height=480,
            inspection=Asset.Inspection.READABLE, thumbnail_name=thumb,
        )  # fmt: skip
        Attachment.objects.create(record=record, slot="1", asset=asset, state=Attachment.State.ATTACHED)
        made.append((record, asset))
    return source, made


def store_bytes(*assets) -> None:
    """Write real JPEG bytes where each asset says its file is (archive_rows stores only thumbnails)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from dedupe.models import Asset

    for asset in assets:
        name = default_storage.save(asset.storage_name, ContentFile(jpeg_bytes(photo(asset.pk, (64, 48)))))
        if name != asset.storage_name:
            Asset.objects.filter(pk=asset.pk).update(storage_name=name)
            asset.storage_name = name


def merged(keep, duplicate, user, note: str = ""):
    """A "same" decision on the pair, applied through merge_onto as the desk applies it; returns the Merge."""
    from django.db import transaction

    from dedupe.models import Candidate
    from review.models import Decision
    from review.services.decisions import record_decision
    from review.services.merges import merge_onto

    a, b = sorted((keep, duplicate), key=lambda asset: asset.pk)
    candidate, _ = Candidate.objects.get_or_create(asset_a=a, asset_b=b, defaults={"kind": "exact", "score": 1.0})
    with transaction.atomic():
        decision = Decision.objects.create(
            candidate=candidate, verdict="same", status="applied", canonical=keep, decided_by=user, note=note
        )
        record_decision(decision, "decision.apply")
        merge = merge_onto(canonical=keep, duplicate=duplicate, decision=decision, actor=user)
        Candidate.objects.filter(pk=candidate.pk).update(status="same")
    return merge


def strip(attachment, reason: str = "a past cleanup removed the image"):
    """Strip a placeholder as a past cleanup did, with its history step and audit event."""
    from django.db import transaction

    from dedupe.attachments import attachment_repoint
    from dedupe.audit import audit_record
    from dedupe.models import Attachment

    with transaction.atomic():
        event = audit_record(
            action="attachment.strip",
            actor_name="system:tests",
            subjects=[("attachment", attachment.pk), ("record", attachment.record_id)],
            before={"state": attachment.state},
            after={"state": "stripped"},
            reason=reason,
        )
        attachment_repoint(
            attachment, asset_id=attachment.asset_id, state=Attachment.State.STRIPPED, reason=reason, audit_event=event
        )
    attachment.refresh_from_db()
    return attachment


def totp_device(user):
    """A confirmed authenticator for the user, as if they had enrolled one."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=user, name="tests", confirmed=True)


def totp_code(key) -> str:
    """The code an authenticator app shows now, for a device or a base32 secret."""
    from base64 import b32decode

    from django_otp.oath import totp

    secret = b32decode(key) if isinstance(key, str) else key.bin_key
    return f"{totp(secret):06d}"


def pass_second_factor(client, user) -> None:
    """Mark the client's session as having proven the user's second factor, if their role needs one."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from review.two_factor import requires_second_factor

    if not requires_second_factor(user):
        return
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or totp_device(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
