"""Loaded by pytest before Django's settings (`-p tests.environment`): the test environment.

Tests run with production settings (DEBUG off) and their own var/ folder, so they never touch a
developer's database, broker folder or media. Variables already set (DATABASE_URL,
CELERY_BROKER_URL in CI) are kept.
"""

import os
from pathlib import Path

VAR = Path(__file__).resolve().parent.parent / "var" / "test"

# 50 characters or more: the production start-up checks (dedupe/checks.py) refuse a shorter key.
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production-but-long-enough-to-pass")
os.environ.setdefault("DEDUPE_AUDIT_CHECKPOINT_KEY", "tests-only-checkpoint-key-not-for-production")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("DEDUPE_VAR_DIR", str(VAR))
os.environ.setdefault("MEDIA_ROOT", str(VAR / "media"))
os.environ.setdefault("STATIC_ROOT", str(VAR / "static"))
