"""Settings for Dedupe Desk, read from environment variables.

With no variable set the project runs embedded: SQLite and a filesystem broker under `var/`,
media on local disk. Production is the default posture (DEBUG off), so a production setting
that is missing stops start-up with a message naming it instead of running insecurely.
Every variable is listed with its default in `.env.example`.
"""

import json
import os
from pathlib import Path
from typing import overload

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


@overload
def env_str(name: str, default: str) -> str: ...
@overload
def env_str(name: str, default: None = None) -> str | None: ...
def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name, "").strip()
    return value if value else default


def env_bool(name: str, default: bool = False) -> bool:
    value = env_str(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


VAR_DIR = Path(env_str("DEDUPE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # the embedded database, broker and media live here

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if SECRET_KEY is None:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to a long random string in production, "
            "or set DEBUG=1 on a development machine."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-debug"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set: list the host names this site answers to, comma-separated.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_prometheus",
    "ninja",  # the API (review.api); listed so its docs page uses the bundled Swagger UI, not a CDN
    "dedupe",
    "review",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # first: times the whole request
    "django.middleware.security.SecurityMiddleware",
    "review.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "review.security.PrivateResponseMiddleware",  # no-store and Permissions-Policy on all it wraps
    "review.security.SessionLifetimeMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "review.two_factor.SecondFactorMiddleware",  # after OTPMiddleware: needs user.is_verified()
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dedupe.origin.RequestContextMiddleware",
    "review.recording.PersonAuditMiddleware",
    "review.security.AuditorReadOnlyMiddleware",  # after PersonAudit: its refusals are recorded
    "axes.middleware.AxesMiddleware",  # last of ours, as django-axes asks: turns a lockout into its 429 page
    "django_prometheus.middleware.PrometheusAfterMiddleware",  # counts responses by view and status
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "review.context_processors.role",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, import and worker processes share one file: WAL lets readers run beside the writer,
    # IMMEDIATE takes the write lock up front so two writers queue instead of deadlocking.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory: worker processes started by the tests must see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Files ----------------------------------------------------------------------------------
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    # Images are served only through permission-checked views, so media has no public URL.
    "default": {
        "BACKEND": env_str("STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": json.loads(env_str("STORAGE_OPTIONS", "{}")),
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}
# The manifest backend needs `collectstatic`; tests render pages without running it.
WHITENOISE_MANIFEST_STRICT = False
FILE_UPLOAD_PERMISSIONS = 0o640

# --- Auth -----------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "review:home"
LOGOUT_REDIRECT_URL = "login"
# A session ends after this long without a request, and this long after sign-in however busy
# (review.security.SessionLifetimeMiddleware); the cookie and the stored session expire with the latter.
DEDUPE_SESSION_IDLE_SECONDS = env_int("DEDUPE_SESSION_IDLE_MINUTES", 30) * 60
DEDUPE_SESSION_MAX_SECONDS = env_int("DEDUPE_SESSION_MAX_HOURS", 12) * 3600
SESSION_COOKIE_AGE = DEDUPE_SESSION_MAX_SECONDS
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: a locked-out address or account is refused before hashing
    "django.contrib.auth.backends.ModelBackend",
]
# Sign-in throttling (django-axes): after this many failures from one address, or at one account
# (counted apart), sign-in is refused with a 429 for a cool-off that doubles with each lockout of
# that address or account in the past day (review.throttling.cool_off). Failures while locked
# out are not counted, so the cool-off is not stretched by the attacker and stays bounded.
AXES_FAILURE_LIMIT = env_int("DEDUPE_SIGN_IN_FAILURES", 5)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_COOLOFF_TIME = "review.throttling.cool_off"
DEDUPE_LOCKOUT_MINUTES = env_int("DEDUPE_LOCKOUT_MINUTES", 15)  # the first lockout; each next one doubles
DEDUPE_LOCKOUT_MAX_HOURS = env_int("DEDUPE_LOCKOUT_MAX_HOURS", 24)
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = False  # True would let a guesser clear its address by signing in to its own account
AXES_DISABLE_ACCESS_LOG = True  # sign-ins and sign-outs are in the audit log already
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Sources kept in an S3-compatible bucket (issue 16, `--root s3://bucket/prefix`): read through
# django-storages' S3Storage with these; unset values fall back to boto3's own chain (AWS_* env
# vars, ~/.aws, an instance role). Path addressing suits MinIO, Ceph and other on-premises stores.
DEDUPE_S3 = {
    "endpoint_url": env_str("DEDUPE_S3_ENDPOINT_URL", "") or None,
    "access_key": env_str("DEDUPE_S3_ACCESS_KEY_ID", "") or None,
    "secret_key": env_str("DEDUPE_S3_SECRET_ACCESS_KEY", "") or None,
    "region_name": env_str("DEDUPE_S3_REGION", "") or None,
    "addressing_style": env_str("DEDUPE_S3_ADDRESSING_STYLE", "path"),
}
if DEDUPE_S3["addressing_style"] not in ("path", "virtual", "auto"):
    raise ImproperlyConfigured("DEDUPE_S3_ADDRESSING_STYLE must be path, virtual or auto")
# Where a bucket source that grants write access (Source.write_access) has its quarantined
# duplicates moved: beside the source's prefix, never under it, so a re-import does not meet them.
DEDUPE_S3_QUARANTINE_PREFIX = env_str("DEDUPE_S3_QUARANTINE_PREFIX", "dedupe-quarantine").strip("/")
# What the import keeps of a new source's files (issue 16): "copy" (bytes stored once per content)
# or "in_place" (only thumbnails and fingerprints; originals read from where the import found them).
DEDUPE_NEW_SOURCES_KEEP = env_str("DEDUPE_NEW_SOURCES_KEEP", "in_place")
if DEDUPE_NEW_SOURCES_KEEP not in ("copy", "in_place"):
    raise ImproperlyConfigured("DEDUPE_NEW_SOURCES_KEEP must be copy or in_place")
# A second factor (TOTP, with one-use recovery codes) for administrators, staff and archivists:
# on in production, off under DEBUG unless asked for (review.two_factor).
DEDUPE_REQUIRE_2FA = env_bool("DEDUPE_REQUIRE_2FA", not DEBUG)
OTP_TOTP_ISSUER = "Dedupe Desk"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

# --- Security (production posture unless DEBUG) ---------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics$"]  # probed over plain http inside the network
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: a real worker process on one machine with no server.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.1,  # the transport polls the folder; its 1 s default idles workers
    }
# One queue name per deployment (or per test) keeps unrelated workers on a shared broker apart.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True  # outcomes are written to the database, not a result backend
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # chunks are big; let idle workers take the next one
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# A pool child that has grown past this (KiB) is replaced after its current task: the backstop
# against slow growth (about 8 MB per 1,000 assets inspected by design; see README, Production).
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", 1024 * 1024)
# Redis re-delivers a message whose worker died after this long; chunks take seconds, so an
# hour (the default) would leave a killed worker's chunk waiting far longer than needed.
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 900)}
CELERY_BEAT_SCHEDULE = {
    # Re-send work nobody holds (dedupe.recovery.work_recover); every worker also does it on its own timer.
    "scan-watch": {"task": "dedupe.tasks.scan_watch_task", "schedule": 60.0},
    # Delete the bytes of quarantined assets past retention (see review.services.storage).
    "purge-quarantined": {"task": "review.tasks.purge_quarantined_task", "schedule": 6 * 3600.0},
    # Record the audit log's head outside the database (see dedupe.audit.audit_checkpoint_write).
    "audit-checkpoint": {"task": "dedupe.tasks.audit_checkpoint_task", "schedule": 24 * 3600.0},
    # Files kept in place, checked against what was imported (see dedupe.verify), a chunk a task.
    "verify-sources": {"task": "dedupe.tasks.verify_sources_task", "schedule": 24 * 3600.0},
    # Push new pages of the changes feed to the source systems' webhooks (review.services.webhooks).
    "webhooks-dispatch": {"task": "review.tasks.webhooks_dispatch_task", "schedule": 10.0},
}

# --- Dedupe Desk ----------------------------------------------------------------------------
# Pillow warns between 1x and 2x its limit and only raises above 2x; the import refuses
# anything above this, before a single pixel is allocated.
DEDUPE_MAX_IMAGE_PIXELS = env_int("DEDUPE_MAX_IMAGE_PIXELS", 120_000_000)
DEDUPE_MAX_FILE_BYTES = env_int("DEDUPE_MAX_FILE_BYTES", 200 * 1024 * 1024)
# Decoded size is what costs memory (pixels x bytes per pixel: 4 for RGB, RGBA, CMYK): a 120 MP
# photo takes 458 MiB. Refused from the header above this.
DEDUPE_MAX_DECODED_BYTES = env_int("DEDUPE_MAX_DECODED_BYTES", 512 * 1024 * 1024)
# The decoding sandbox (dedupe.sandbox): memory a decode may add to the child's address space
# and CPU seconds one file may take before the child is stopped and the file called unreadable.
DEDUPE_DECODE_MEMORY_BYTES = env_int("DEDUPE_DECODE_MEMORY_BYTES", 1536 * 1024 * 1024)
DEDUPE_DECODE_CPU_SECONDS = env_int("DEDUPE_DECODE_CPU_SECONDS", 20)
DEDUPE_THUMBNAIL_SIZE = env_int("DEDUPE_THUMBNAIL_SIZE", 640)
# Pixels decoded on the shorter side for hashing and the thumbnail: JPEGs are decoded at the
# smallest DCT scale (1/2, 1/4, 1/8) that still gives this many, so a phone photo costs 1/64.
DEDUPE_DECODE_SIDE = env_int("DEDUPE_DECODE_SIDE", 256)
# Assets per decoding task: a 12-megapixel photo takes ~20 ms to decode and hash here, so a
# chunk is about a second of work: queue and commit overhead vanish, a killed worker loses little.
DEDUPE_INSPECT_CHUNK = env_int("DEDUPE_INSPECT_CHUNK", 48)
# New assets per partial-copy chunk of a scan: each verifies its few same-property pairs from stored
# features (about 10 ms a pair) after loading every address once (about 2 s per million).
DEDUPE_PARTIAL_CHUNK = env_int("DEDUPE_PARTIAL_CHUNK", 2_000)
# How long a worker may hold a chunk (of a scan or an import's decoding) before someone else may
# take it over; a chunk sent this long ago and not taken is sent again (dedupe.leases).
DEDUPE_CHUNK_LEASE_SECONDS = env_int("DEDUPE_CHUNK_LEASE_SECONDS", 300)
# Every worker queues a recovery pass this often (config.celery.WorkRecoveryStep): no beat needed.
DEDUPE_RECOVERY_INTERVAL_SECONDS = env_int("DEDUPE_RECOVERY_INTERVAL_SECONDS", 30)
# An import whose process has not beaten for this long is shown as interrupted, with how to resume.
DEDUPE_RUN_STALE_SECONDS = env_int("DEDUPE_RUN_STALE_SECONDS", 300)
# How long a command keeps retrying a lost database, an unreachable broker or a full disk before
# it stops with a one-line diagnosis and what to run to resume (dedupe.resilience).
DEDUPE_COMMAND_PATIENCE_SECONDS = env_int("DEDUPE_COMMAND_PATIENCE_SECONDS", 120)
# Quarantined duplicates keep their bytes this long (the window in which a merge can be undone).
DEDUPE_RETENTION_DAYS = env_int("DEDUPE_RETENTION_DAYS", 30)
# Where audit_checkpoint writes the audit log's head; best a mount the database's users cannot
# write (another host, WORM or versioned object storage), or the checkpoints prove little.
DEDUPE_CHECKPOINT_DIR = Path(env_str("DEDUPE_CHECKPOINT_DIR", str(VAR_DIR / "checkpoints")))
# Signs each checkpoint (HMAC-SHA256), so whoever can rewrite the database cannot rewrite the
# checkpoints to match: keep it out of the database and away from its owners. Unset in
# production, audit_checkpoint and `verify_audit --against` refuse, naming it, and
# `check --deploy` warns; with DEBUG a fixed development key stands in.
DEDUPE_AUDIT_CHECKPOINT_KEY = env_str("DEDUPE_AUDIT_CHECKPOINT_KEY")
if DEDUPE_AUDIT_CHECKPOINT_KEY is None and DEBUG:
    DEDUPE_AUDIT_CHECKPOINT_KEY = "insecure-checkpoint-key-only-used-with-debug"  # noqa: S105
if DEDUPE_AUDIT_CHECKPOINT_KEY is not None and len(DEDUPE_AUDIT_CHECKPOINT_KEY) < 32:
    raise ImproperlyConfigured("DEDUPE_AUDIT_CHECKPOINT_KEY is too short: use at least 32 random characters.")

# The API (review.api): a retried request's Idempotency-Key is remembered this long; a second
# request with a key whose first is still running waits this long for its answer, then gets a
# 409; a key whose first request never answered (its process died) is taken over after STALE.
DEDUPE_API_IDEMPOTENCY_HOURS = env_int("DEDUPE_API_IDEMPOTENCY_HOURS", 48)
DEDUPE_API_IDEMPOTENCY_WAIT_SECONDS = env_int("DEDUPE_API_IDEMPOTENCY_WAIT_SECONDS", 10)
DEDUPE_API_IDEMPOTENCY_STALE_SECONDS = env_int("DEDUPE_API_IDEMPOTENCY_STALE_SECONDS", 300)

# Addresses allowed to read /metrics (Prometheus); everyone else gets a 404.
DEDUPE_METRICS_ALLOW = env_list("DEDUPE_METRICS_ALLOW", ["127.0.0.1", "::1"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}
