"""One settings file for every mode, driven by environment variables.

With nothing set it runs the embedded development mode: SQLite in WAL mode, a Redis server
that the platform starts itself on a unix socket under var/, files on local disk.
Every variable read here is listed in the README's configuration table.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from apps.core.embedded_redis import embedded_socket_path
from config.env import (
    envbool,
    envdecimal,
    envfloat,
    envint,
    envlist,
    envsecret,
    envstr,
    stored_secret,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("VAR_DIR") or BASE_DIR / "var").resolve()

# Production unless asked otherwise: `manage.py up --dev` sets DEBUG=1 for what it starts.
DEBUG = envbool("DEBUG", False)
SECRET_KEY = envsecret("SECRET_KEY")
if not SECRET_KEY:
    # Generated once per installation and shared by every process using this VAR_DIR, in
    # development and production mode alike (API token hashes and sessions depend on it).
    try:
        SECRET_KEY = stored_secret(VAR_DIR / "secret_key")
    except OSError as exc:
        if not DEBUG:
            raise ImproperlyConfigured(
                f"SECRET_KEY (or SECRET_KEY_FILE) must be set: no key could be kept in "
                f"{VAR_DIR / 'secret_key'} ({exc})"
            ) from None
        SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"  # noqa: S105
# Old keys still accepted for sessions and API tokens while a new SECRET_KEY rolls out.
SECRET_KEY_FALLBACKS = envlist("SECRET_KEY_FALLBACKS", [])

PUBLIC_URL = envstr("PUBLIC_URL").rstrip("/")
_public_host = urlsplit(PUBLIC_URL).hostname or ""
ALLOWED_HOSTS = envlist(
    "ALLOWED_HOSTS",
    ["localhost", "127.0.0.1", "[::1]", "testserver"]
    + ([f"[{_public_host}]" if ":" in _public_host else _public_host] if _public_host else []),
)
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [PUBLIC_URL] if PUBLIC_URL else [])
if envbool("SECURE_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PUBLIC_URL.startswith("https://")
# Sent with every response that sets none of its own (apps/core/csp.py): our own scripts and
# styles only, nothing inline, no eval; websockets for live prediction pages.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "media-src": "'self' blob:",
    "font-src": "'self'",
    "connect-src": "'self' ws: wss:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    "ninja",
    "apps.core",
    "apps.accounts",
    "apps.billing",
    "apps.catalog",
    "apps.runtime",
    "apps.predictions",
    "apps.files",
    "apps.deployments",
    "apps.explore",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.core.csp.content_security_policy",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "apps.files.uploads.upload_limits",  # before the CSRF check reads the body
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.busy.DatabaseBusyMiddleware",  # a locked database is a 503, not a 500
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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
            ],
        },
    },
]

# Database: DATABASE_URL, by default SQLite in WAL mode (with a busy timeout and IMMEDIATE
# transactions) so the web process and the workers can write side by side.
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = envstr("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # Seconds a write waits for SQLite's one writer; past it, the request answers 503.
        "timeout": envint("DB_BUSY_TIMEOUT", 30),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so worker processes started by tests can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and envbool("DB_POOL", True):
    # Under ASGI each request runs in a thread of its own, so a persistent connection is never
    # reused: without a pool every request opened a new PostgreSQL session (measured: 50 for
    # 50 requests). psycopg's pool hands each request a connection, checked first (Django
    # does that with CONN_HEALTH_CHECKS), so a dropped one is replaced.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them; Django must not
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": envint("DB_POOL_MIN_SIZE", 2),
        "max_size": envint("DB_POOL_MAX_SIZE", 20),
        # How long a request waits for a free (or, in an outage, a new) connection before it
        # fails with a database error.
        "timeout": envint("DB_POOL_TIMEOUT", 10),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: REDIS_URL, or an embedded server the platform starts on a unix socket under var/.
REDIS_URL = envstr("REDIS_URL")
EMBEDDED_REDIS = not REDIS_URL
EMBEDDED_REDIS_SOCKET = embedded_socket_path(VAR_DIR, envstr("EMBEDDED_REDIS_NAME", "redis"))
if EMBEDDED_REDIS:
    REDIS_URL = f"unix://{EMBEDDED_REDIS_SOCKET}"

# redis-py 8 defaults to a 5 s socket timeout, which kills idle websocket consumers (their
# blocking reads last 5 s too) and long blocking waits. Keepalives detect dead peers instead.
REDIS_CONNECTION_OPTIONS = {"socket_timeout": None, "socket_connect_timeout": 5}
if not REDIS_URL.startswith("unix://"):
    REDIS_CONNECTION_OPTIONS |= {"socket_keepalive": True, "health_check_interval": 30}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, **REDIS_CONNECTION_OPTIONS}],
            "prefix": "selfrep:ws",
        },
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "account"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(envstr("STATIC_ROOT") or VAR_DIR / "static")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(envstr("MEDIA_ROOT") or VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files straight from the source folders too, so no collectstatic step is needed.
WHITENOISE_USE_FINDERS = True

# Dramatiq: workers and the web process share one Redis broker (see apps/core/queue.py).
DRAMATIQ_NAMESPACE = envstr("DRAMATIQ_NAMESPACE", "selfrep")
WORKER_THREADS = envint("WORKER_THREADS", 1)

# Model runtime (apps/runtime): environments, model processes, file inputs and outputs.
_cache_home = Path(envstr("XDG_CACHE_HOME") or Path.home() / ".cache")
SELFREP_CACHE_DIR = Path(envstr("SELFREP_CACHE_DIR") or _cache_home / "selfrep").resolve()
RUNTIME_WORK_DIR = Path(envstr("RUNTIME_WORK_DIR") or VAR_DIR / "runtime")
RUNTIME_SHARED_PACKAGES = envlist("RUNTIME_SHARED_PACKAGES", ["torch"])
MODEL_MEMORY_BUDGET_MB = envint("MODEL_MEMORY_BUDGET_MB", 8192)
MAX_MODEL_PROCESSES = envint("MAX_MODEL_PROCESSES", 4)
MODEL_SETUP_TIMEOUT = envint("MODEL_SETUP_TIMEOUT", 900)
PREDICTION_TIME_LIMIT = envint("PREDICTION_TIME_LIMIT", 1800)
MAX_INPUT_FILE_BYTES = envint("MAX_INPUT_FILE_BYTES", 100 * 1024 * 1024)
MAX_OUTPUT_FILE_BYTES = envint("MAX_OUTPUT_FILE_BYTES", 1024 * 1024 * 1024)
INPUT_FETCH_TIMEOUT = envint("INPUT_FETCH_TIMEOUT", 60)
MAX_VERSION_ARCHIVE_BYTES = envint("MAX_VERSION_ARCHIVE_BYTES", 512 * 1024 * 1024)
# The sandbox model code runs in (apps/runtime/sandbox.py; docs/security.md). "off" runs it
# unsandboxed, and then only staff and TRUSTED_PUSHERS may push models.
SANDBOX = envstr("SANDBOX", "bwrap")
if SANDBOX not in ("bwrap", "off"):
    raise ImproperlyConfigured(f"SANDBOX must be 'bwrap' or 'off', not {SANDBOX!r}")
TRUSTED_PUSHERS = envlist("TRUSTED_PUSHERS", [])
SANDBOX_MEMORY_MB = envint("SANDBOX_MEMORY_MB", 8192)  # per process of a model
SANDBOX_MAX_PROCESSES = envint("SANDBOX_MAX_PROCESSES", 512)  # processes and threads
SANDBOX_MAX_OPEN_FILES = envint("SANDBOX_MAX_OPEN_FILES", 4096)
SANDBOX_SCRATCH_MB = envint("SANDBOX_SCRATCH_MB", 2048)  # its /tmp, and the largest file
SANDBOX_UID_BASE = envint("SANDBOX_UID_BASE", 200000)
SANDBOX_MODEL_EGRESS = envbool("SANDBOX_MODEL_EGRESS", False)
PACKAGE_INDEX_HOSTS = envlist("PACKAGE_INDEX_HOSTS", [])
# Networks that outbound requests (file inputs, webhooks) may reach although they are private.
OUTBOUND_ALLOWLIST = envlist("OUTBOUND_ALLOWLIST", ["127.0.0.0/8", "::1/128"] if DEBUG else [])
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

API_PAGE_SIZE = envint("API_PAGE_SIZE", 100)

# Predictions (apps/predictions)
EVENT_LOG_TTL = envint("EVENT_LOG_TTL", 24 * 3600)
PREDICTION_DATA_RETENTION = envint("PREDICTION_DATA_RETENTION", 3600)
WORKER_HEARTBEAT_SECONDS = envint("WORKER_HEARTBEAT_SECONDS", 5)
HARDWARE_QUEUES = envlist("HARDWARE_QUEUES", ["cpu"])
SWEEP_STARTING_AFTER = envint("SWEEP_STARTING_AFTER", 60)
RATE_LIMIT_CREATE_PER_MINUTE = envint("RATE_LIMIT_CREATE_PER_MINUTE", 600)
RATE_LIMIT_OTHER_PER_MINUTE = envint("RATE_LIMIT_OTHER_PER_MINUTE", 3000)
LOGIN_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 10)  # per account name and window
LOGIN_FAILURE_LIMIT_PER_ADDRESS = envint("LOGIN_FAILURE_LIMIT_PER_ADDRESS", 50)
LOGIN_FAILURE_WINDOW = envint("LOGIN_FAILURE_WINDOW", 900)  # seconds
WEBHOOK_TIMEOUT = envint("WEBHOOK_TIMEOUT", 10)
WEBHOOK_RETRIES = envint("WEBHOOK_RETRIES", 6)
# What one prediction may cost in storage (issue 10): its logs keep their last
# MAX_PREDICTION_LOG_BYTES (database, API, pages); a JSON output past MAX_OUTPUT_JSON_BYTES
# (streamed items counted together) fails it; its event log in Redis keeps at most
# EVENT_LOG_MAX_BYTES of log events, dropping the oldest.
MAX_PREDICTION_LOG_BYTES = envint("MAX_PREDICTION_LOG_BYTES", 4 * 1024 * 1024)
MAX_OUTPUT_JSON_BYTES = envint("MAX_OUTPUT_JSON_BYTES", 16 * 1024 * 1024)
EVENT_LOG_MAX_BYTES = envint("EVENT_LOG_MAX_BYTES", 4 * 1024 * 1024)

# Deployments (apps/deployments; docs/deployments.md): limits of a release, the autoscaler's
# policy, and what this machine declares it can give to deployment instances.
DEPLOYMENT_MIN_INSTANCES_LIMIT = envint("DEPLOYMENT_MIN_INSTANCES_LIMIT", 5)
DEPLOYMENT_MAX_INSTANCES_LIMIT = envint("DEPLOYMENT_MAX_INSTANCES_LIMIT", 20)
DEPLOYMENT_DELETE_AFTER_IDLE = envint("DEPLOYMENT_DELETE_AFTER_IDLE", 15 * 60)
DEPLOYMENT_METRICS_DAYS = envint("DEPLOYMENT_METRICS_DAYS", 30)
AUTOSCALER_INTERVAL = envfloat("AUTOSCALER_INTERVAL", 1.0)
AUTOSCALER_IDLE_SECONDS = envint("AUTOSCALER_IDLE_SECONDS", 60)
AUTOSCALER_PREDICTIONS_PER_INSTANCE = envint("AUTOSCALER_PREDICTIONS_PER_INSTANCE", 1)
AUTOSCALER_STOP_TIMEOUT = envint("AUTOSCALER_STOP_TIMEOUT", PREDICTION_TIME_LIMIT + 60)
# vCPUs are shared 4:1 by default (model servers mostly wait); memory is the machine's.
INSTANCE_CPUS = envint("INSTANCE_CPUS", 4 * (os.cpu_count() or 1))
INSTANCE_MEMORY_GB = envint(
    "INSTANCE_MEMORY_GB",
    (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 2**30,
)
INSTANCE_GPUS = envint("INSTANCE_GPUS", 0)
INSTANCE_HOST = envstr("INSTANCE_HOST") or socket.gethostname()

# Billing (apps/billing; docs/billing.md): the operator's default monthly spend limit per
# account (empty: none), how often an online deployment instance's time goes into the ledger,
# and where spend alerts are mailed from (console backend unless EMAIL_BACKEND says SMTP).
BILLING_DEFAULT_SPEND_LIMIT = envdecimal("BILLING_DEFAULT_SPEND_LIMIT")
BILLING_INSTANCE_INTERVAL = envint("BILLING_INSTANCE_INTERVAL", 300)
EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envsecret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "billing@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Its DEBUG records carry whole template contexts: tokens shown once, webhook secrets.
        "django.template": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
