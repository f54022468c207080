"""Every setting comes from the environment (see the README's configuration table).

With nothing set, the dashboard runs embedded: SQLite in ``DATA_DIR``, the in-process channel
layer and scheduler, and the simulator as its CWork. Setting ``DATABASE_URL`` means a
production deployment, where a secret key and the allowed host names must be given.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from dashboard.env import Env

env = Env()
BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.text("DATA_DIR", str(BASE_DIR / "var")))

DATABASE_URL = env.url("DATABASE_URL", ("postgres", "postgresql", "sqlite"))
REDIS_URL = env.url("REDIS_URL", ("redis", "rediss", "unix"))
PRODUCTION = DATABASE_URL is not None


def _embedded_secret_key() -> str:
    """Embedded runs keep one generated key, so sessions survive a restart."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


if PRODUCTION:
    SECRET_KEY = env.text("SECRET_KEY", required=True)
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("SECRET_KEY is too short: use at least 32 random characters.")
else:
    SECRET_KEY = env.optional_text("SECRET_KEY") or _embedded_secret_key()

DEBUG = env.flag("DEBUG", False)
ALLOWED_HOSTS = env.comma_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set: the host names the dashboard serves.")
CSRF_TRUSTED_ORIGINS = env.comma_list("CSRF_TRUSTED_ORIGINS", [])
# A refused form gets a page saying what to do, not Django's technical one.
CSRF_FAILURE_VIEW = "dashboard.csrf.csrf_failure"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "dashboard",
    "stations",
    "kpis",
    "screens",
    "accounts",
    "audit",
    "actions",
    "alerts",
]

MIDDLEWARE = [
    # First: everything after it sees X-Forwarded-* only from a trusted proxy.
    "core.proxies.ProxyHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dashboard.languages.LanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After htmx and auth: it reads request.htmx and request.user on the way out.
    "dashboard.refusals.HtmxRefusalMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"
WSGI_APPLICATION = None

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
                "dashboard.navigation.navigation",
            ],
        },
    },
]

if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "dashboard.sqlite3"),
            "OPTIONS": {
                # WAL lets the wall read while the poll writes; IMMEDIATE avoids the
                # "database is locked" upgrade deadlock between two writers.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # Many walls reconnect together after a restart: redis-py's async pool raises
                # rather than waits past its limit, so the limit is set well above that.
                "hosts": [{"address": REDIS_URL, "max_connections": 1000}],
                "prefix": env.text("CHANNEL_PREFIX", "dashboard"),
                # Group membership must outlive daphne's WebSocket timeout (a day).
                "group_expiry": 2 * 86400,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.text("CHANNEL_PREFIX", "dashboard"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGES = [("en", _("English")), ("fr", _("French"))]
#: The plant's language: every page, tile, e-mail and export is in it.
LANGUAGE_CODE = env.choice("LANGUAGE", tuple(code for code, _name in LANGUAGES), "en")
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["dashboard.formats"]
USE_I18N = True
USE_TZ = True
#: The plant's time zone: every time shown is in it.
TIME_ZONE = env.time_zone("TIME_ZONE", "Europe/Paris")

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.text("STATIC_ROOT", str(DATA_DIR / "static")))
# Production serves the collected, hashed and compressed files (``collectstatic`` at start);
# the embedded run serves them straight from the source folders.
SERVESTATIC_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.flag("SECURE_COOKIES", PRODUCTION)
SESSION_COOKIE_HTTPONLY = True
#: The reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (their address
#: as daphne sees it): the client's address is then the one the proxy reports (see
#: core/proxies.py), and a request is HTTPS when the proxy says it was.
TRUSTED_PROXIES = env.networks("TRUSTED_PROXIES", [])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
# Served over HTTPS (as secure cookies say): plain HTTP is redirected, except the health
# check that load balancers and containers ask for on the inside.
SECURE_SSL_REDIRECT = env.flag("SECURE_SSL_REDIRECT", SESSION_COOKIE_SECURE)
# /metrics too: its access is by address or token, and a redirect would not protect a token
# already sent in the clear.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^healthz$", r"^readyz$", r"^metrics$"]
# Strict-Transport-Security is only sent over HTTPS: 0 turns it off.
SECURE_HSTS_SECONDS = env.integer(
    "SECURE_HSTS_SECONDS", 365 * 86400 if SECURE_SSL_REDIRECT else 0, minimum=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.flag("SECURE_HSTS_PRELOAD", True)

# --- logins -----------------------------------------------------------------------------------
#: Failed logins allowed per user name, and per client address, within the window; more are
#: refused (without checking the password) until the oldest failure leaves the window.
LOGIN_FAILURES_PER_USER = env.integer("LOGIN_FAILURES_PER_USER", 5, minimum=1)
LOGIN_FAILURES_PER_ADDRESS = env.integer("LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
LOGIN_FAILURE_WINDOW = env.integer("LOGIN_FAILURE_WINDOW", 15 * 60, minimum=60)

# --- CWork ------------------------------------------------------------------------------------
SIMULATOR_PORT = env.integer("SIMULATOR_PORT", 8081, minimum=1)
_cwork_url = env.url(
    "CWORK_URL", ("http", "https"), None if PRODUCTION else f"http://127.0.0.1:{SIMULATOR_PORT}"
)
if _cwork_url is None:
    raise ImproperlyConfigured("CWORK_URL must be set: the address of the CWork server.")
CWORK_URL: str = _cwork_url
#: With no CWORK_URL given, the embedded run starts the simulator and polls it.
EMBEDDED_SIMULATOR = not PRODUCTION and not env.is_set("CWORK_URL")
CWORK_API_KEY = env.text("CWORK_API_KEY", None if PRODUCTION else "demo-key", required=PRODUCTION)
CWORK_VERIFY_TLS = env.flag("CWORK_VERIFY_TLS", True)
CWORK_CA_FILE = env.file("CWORK_CA_FILE")
CWORK_FINGERPRINT = env.optional_text("CWORK_FINGERPRINT")
CWORK_API_VERSION = env.optional_text("CWORK_API_VERSION")
CWORK_TIMEOUT = env.seconds("CWORK_TIMEOUT", 10.0)

# --- ingest -----------------------------------------------------------------------------------
POLL_INTERVAL = env.seconds("POLL_INTERVAL", 2.0)
CATALOGUE_SYNC_INTERVAL = env.seconds("CATALOGUE_SYNC_INTERVAL", 300.0, minimum=5)
HISTORY_SYNC_INTERVAL = env.seconds("HISTORY_SYNC_INTERVAL", 30.0, minimum=1)
HISTORY_SYNC_BATCH = env.integer("HISTORY_SYNC_BATCH", 100, minimum=1)
HISTORY_BACKFILL_DAYS = env.integer("HISTORY_BACKFILL_DAYS", 7, minimum=1)
ORDERS_SYNC_INTERVAL = env.seconds("ORDERS_SYNC_INTERVAL", 300.0, minimum=5)
# CWork's own KPIs per shift (cross-check and quality rate): how often, how many per run.
KPI_SYNC_INTERVAL = env.seconds("KPI_SYNC_INTERVAL", 300.0, minimum=5)
KPI_SYNC_BATCH = env.integer("KPI_SYNC_BATCH", 200, minimum=1)
KPI_BACKFILL_DAYS = env.integer("KPI_BACKFILL_DAYS", 7, minimum=1)
# The norm's open choices that shops make differently (see cwork/oee.py).
KPI_MICRO_STOP_SECONDS = env.integer("KPI_MICRO_STOP_SECONDS", 0, minimum=0)
KPI_BREAKS_IN_REQUIRED_TIME = env.flag("KPI_BREAKS_IN_REQUIRED_TIME", False)
# Beyond these, a figure that differs from CWork's is shown with the difference.
KPI_CROSSCHECK_SECONDS = env.integer("KPI_CROSSCHECK_SECONDS", 120, minimum=0)
KPI_CROSSCHECK_POINTS = env.number("KPI_CROSSCHECK_POINTS", 2.0)
LICENCE_RECHECK_INTERVAL = env.seconds("LICENCE_RECHECK_INTERVAL", 3600.0, minimum=60)
#: Data older than this many poll intervals is shown as stale.
STALE_AFTER_POLLS = env.integer("STALE_AFTER_POLLS", 3, minimum=2)
POLL_RECORD_RETENTION_DAYS = env.integer("POLL_RECORD_RETENTION_DAYS", 7, minimum=1)
#: What a live poll's change event goes to: the walls' and station pages' tiles and heartbeat.
LIVE_PUBLISHER = "dashboard.wall.publish_cycle"

# --- alerts and end-of-shift reports ---------------------------------------------------------
#: The dashboard's address as people reach it: the links in e-mails and webhooks.
SITE_URL = env.text("SITE_URL", "http://localhost:8000")
#: Unset, ``runembedded`` puts the address it serves in SITE_URL, and production warns.
SITE_URL_IS_SET = env.is_set("SITE_URL")
#: Outgoing mail (alerts and reports). With no EMAIL_HOST, an embedded run writes each mail as
#: a file in DATA_DIR/outbox (a demo can read them), and production records every e-mail
#: delivery as failed with "no mail server is set", rather than pretend it was sent.
EMAIL_HOST = env.text("EMAIL_HOST", "")
EMAIL_USE_TLS = env.flag("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env.flag("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured(
        "EMAIL_USE_TLS and EMAIL_USE_SSL are both on: use TLS for STARTTLS (port 587), "
        "SSL for implicit TLS (port 465), not both."
    )
EMAIL_PORT = env.integer("EMAIL_PORT", 465 if EMAIL_USE_SSL else 587 if EMAIL_USE_TLS else 25)
EMAIL_HOST_USER = env.text("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.text("EMAIL_HOST_PASSWORD", "")
EMAIL_TIMEOUT = env.seconds("EMAIL_TIMEOUT", 10.0)
DEFAULT_FROM_EMAIL = env.text("DEFAULT_FROM_EMAIL", "CWork dashboard <dashboard@localhost>")
EMAIL_FILE_PATH = DATA_DIR / "outbox"
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
elif PRODUCTION:
    EMAIL_BACKEND = "alerts.sending.NoMailServerBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
#: Seconds to wait for a webhook's answer.
ALERT_WEBHOOK_TIMEOUT = env.seconds("ALERT_WEBHOOK_TIMEOUT", 10.0)
#: Minutes after a shift's end before its report (and its shift-OEE check) is made: CWork's
#: own figures, which give the quality rate, arrive within one 5-minute fetch.
SHIFT_REPORT_DELAY_MINUTES = env.integer("SHIFT_REPORT_DELAY_MINUTES", 10, minimum=0)
#: Shifts that ended longer ago than this are never reported: a dashboard started after a
#: long stop does not mail old shifts in bulk.
SHIFT_REPORT_MAX_AGE_HOURS = env.integer("SHIFT_REPORT_MAX_AGE_HOURS", 12, minimum=1)

# --- screens ----------------------------------------------------------------------------------
#: Tiles per page on a wall; more stations rotate through pages.
WALL_PAGE_SIZE = env.integer("WALL_PAGE_SIZE", 40, minimum=1)
#: Seconds between pages on a wall opened by a logged-in user (kiosk screens have their own).
WALL_ROTATION_SECONDS = env.integer("WALL_ROTATION_SECONDS", 20, minimum=5)
#: Local hour at which a wall open for more than a day reloads itself (a fresh page, memory).
WALL_RELOAD_HOUR = env.integer("WALL_RELOAD_HOUR", 3, minimum=0)

# --- embedded simulator -----------------------------------------------------------------------
SIMULATOR_STATIONS = env.integer("SIMULATOR_STATIONS", 24, minimum=1)
SIMULATOR_SPEED = env.seconds("SIMULATOR_SPEED", 1.0, minimum=0.01)

# --- Celery (production) ----------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
# Several dashboards (or test runs) can share one Redis database without sharing a queue.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": f"{env.text('CHANNEL_PREFIX', 'dashboard')}:"
}
CELERY_TASK_IGNORE_RESULT = True
#: True where no worker takes the tasks sent (the test suite): a job asked for now
#: (``core.queue.run_soon``) then runs in its caller.
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE

# Celery keeps Django's logging (and so LOG_FORMAT) instead of installing its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- operability ------------------------------------------------------------------------------
#: Who may read /metrics: these addresses or networks, or anyone with the bearer token.
METRICS_ALLOWED = env.networks("METRICS_ALLOWED", ["127.0.0.1", "::1"])
METRICS_TOKEN = env.optional_text("METRICS_TOKEN")
if METRICS_TOKEN is not None and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN is too short: use at least 16 random characters.")

LOG_LEVEL = env.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO")
#: ``text`` for people, ``json`` (one object per line) for a log collector.
LOG_FORMAT = env.choice("LOG_FORMAT", ("text", "json"), "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "core.logs.ContextFilter"}},
    "formatters": {
        "text": {
            "()": "core.logs.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        },
        "json": {"()": "core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # Two lines per task every poll interval drown what matters; failures still show.
        "celery.app.trace": {"level": "WARNING"},
    },
}
