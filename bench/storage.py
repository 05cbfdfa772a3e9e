"""Our storage as a share of the archive, kept in place against copied (once per content), and the
import's time in each mode, in the same run.

    .venv/bin/python bench/storage.py [CORPUS] [--originals 60] [--megapixels 3] [--rounds 2]

CORPUS is a folder with manifest.csv (make_corpus.py or `manage.py make_sample_archive`); without
it, a sample archive is written to a temporary folder (drawn photographs with byte copies, at
`--megapixels`). For each mode (`copy`: bytes stored once per SHA-256; `in_place`: thumbnails and
fingerprints only) and round, in turns: a fresh SQLite database and media folder, then
`import_archive` (which decodes and fingerprints in process, no worker) is timed, and the media
folder is measured: its blobs (the originals we keep) and the rest (thumbnails).

A third mode, `s3`, keeps the same files in place in a bucket: the corpus is uploaded once to an
S3 server started here on the loopback (moto in server mode, from requirements-dev.txt), and
`import_archive --root s3://bench/archive` reads each object over HTTP. Loopback HTTP, not a
network: the row says what the bucket path costs us, not what a real object store's latency costs.
"""

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


BUCKET = "bench"
EMULATOR_KEY = "bench"  # the loopback emulator takes any key: not a credential


def env_for(var: Path, mode: str, endpoint: str = "") -> dict:
    env = os.environ | {
        "DEBUG": "0", "SECRET_KEY": "bench-only-" + "x" * 50, "ALLOWED_HOSTS": "localhost",
        "DEDUPE_VAR_DIR": str(var), "DEDUPE_NEW_SOURCES_KEEP": "in_place" if mode == "s3" else mode,
        "DEDUPE_S3_ENDPOINT_URL": endpoint, "DEDUPE_S3_ACCESS_KEY_ID": EMULATOR_KEY,
        "DEDUPE_S3_SECRET_ACCESS_KEY": EMULATOR_KEY, "DEDUPE_S3_REGION": "us-east-1",
    }  # fmt: skip
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT"):
        env.pop(name, None)
    return env


def manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def one(corpus: Path, mode: str, endpoint: str) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"storage-{mode}-") as var:
        env = env_for(Path(var), mode, endpoint)
        manage(env, "migrate")
        root = ["--root", f"s3://{BUCKET}/archive"] if mode == "s3" else []
        start = time.perf_counter()
        manage(env, "import_archive", str(corpus / "manifest.csv"), *root)
        seconds = time.perf_counter() - start
        media = Path(var) / "media"
        return {"seconds": seconds, "originals": folder_bytes(media / "blobs"), "media": folder_bytes(media)}


def s3_server(files: list[Path], corpus: Path) -> tuple[object, str]:
    """moto in server mode on a free loopback port, with the corpus uploaded under archive/."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=EMULATOR_KEY,
                          aws_secret_access_key=EMULATOR_KEY, region_name="us-east-1")  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    for path in files:
        client.upload_file(str(path), BUCKET, f"archive/{path.relative_to(corpus).as_posix()}")
    return server, endpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", type=Path)
    parser.add_argument("--originals", type=int, default=60)
    parser.add_argument("--megapixels", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="storage-corpus-") as made:
        corpus = args.corpus
        if corpus is None:
            corpus = Path(made) / "archive"
            manage(env_for(Path(made) / "var", "copy"), "make_sample_archive", str(corpus), "--originals",
                   str(args.originals), "--megapixels", str(args.megapixels), "--no-bad")  # fmt: skip
        files = [p for p in corpus.rglob("*") if p.is_file() and p.name != "manifest.csv" and p.suffix != ".csv"]
        archive = sum(p.stat().st_size for p in files)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server, endpoint = s3_server(files, corpus)
        results: dict[str, list[dict]] = {"copy": [], "in_place": [], "s3": []}
        try:
            for _ in range(args.rounds):
                for mode in results:
                    results[mode].append(one(corpus, mode, endpoint))
        finally:
            server.stop()  # type: ignore[attr-defined]
    print(f"archive: {len(files)} files, {archive / 1e6:.1f} MB")
    print(f"{'mode':<10}{'import s (median)':>18}{'originals kept':>16}{'all our storage':>17}{'share':>8}")
    for mode, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        print(f"{mode:<10}{seconds:>18.1f}{runs[-1]['originals'] / 1e6:>14.1f}MB{runs[-1]['media'] / 1e6:>15.1f}MB"
              f"{runs[-1]['media'] / archive:>8.1%}")  # fmt: skip
    copy_s = statistics.median(r["seconds"] for r in results["copy"])
    in_place_s = statistics.median(r["seconds"] for r in results["in_place"])
    s3_s = statistics.median(r["seconds"] for r in results["s3"])
    print(f"import time in place / copy: {in_place_s / copy_s:.2f}")
    print(f"import time in a bucket (s3, in place) / copy: {s3_s / copy_s:.2f}")


if __name__ == "__main__":
    main()
