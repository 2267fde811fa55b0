"""Settings shared by every environment; every value comes from the environment (see .env.example)."""

from pathlib import Path

import environ

from rathaus.config.envfile import read_env_file
from rathaus.config.storage import storages_from_env

BASE_DIR = Path(__file__).resolve().parents[4]
SRC_DIR = BASE_DIR / "src" / "rathaus"

env = environ.Env()
# A local .env is optional; production passes real environment variables. The entry points read it
# already (to choose this module); read again for anything that imports settings by itself.
read_env_file()

VAR_DIR = Path(env.str("RATHAUS_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
# Earlier keys, after a change of SECRET_KEY: they still read what was encrypted or signed with them
# (webhook secrets at rest, sessions, password-reset links). Comma-separated.
SECRET_KEY_FALLBACKS = [key for key in env.list("SECRET_KEY_FALLBACKS", default=[]) if key]
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://localhost:8000")
# Reverse proxies (load balancers) in front of the web server that append the client's address to
# X-Forwarded-For. 0: the header is ignored and REMOTE_ADDR is the client. Too high a number lets
# clients choose their address (for rate limits, the login lockout and the audit trail).
RATHAUS_TRUSTED_PROXY_COUNT = env.int("RATHAUS_TRUSTED_PROXY_COUNT", default=0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "rules.apps.AutodiscoverRulesConfig",
    "django_tasks",
    "django_tasks_db",
    "rathaus.core",
    "rathaus.tenants",
    "rathaus.accounts",
    "rathaus.forms",
    "rathaus.catalog",
    "rathaus.applications",
    "rathaus.exchanges",
    "rathaus.processes",
    "rathaus.cases",
    "rathaus.integration",
    "rathaus.portal",
]

MIDDLEWARE = [
    # First: everything after it reads the client's address from REMOTE_ADDR.
    "rathaus.core.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "rathaus.core.middleware.RequestLimitsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    # Turns django-ratelimit's Ratelimited (a PermissionDenied) into RATELIMIT_VIEW's 429.
    "django_ratelimit.middleware.RatelimitMiddleware",
]

ROOT_URLCONF = "rathaus.config.urls"
WSGI_APPLICATION = "rathaus.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "rathaus.portal.context_processors.portal",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'rathaus.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# PostgreSQL prepares the statements of the submission's hot path once per connection (core/sql.py).
# Set to false behind a pooler that cannot keep them (PgBouncer in transaction mode before 1.21,
# or with max_prepared_statements = 0).
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the worker write while the web process reads; IMMEDIATE avoids
    # "database is locked" upgrades in concurrent write transactions.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    if DATABASE_PREPARED_STATEMENTS and "postgresql" in DATABASES["default"]["ENGINE"]:
        # Only server-binding cursors prepare (core/sql.py uses them on the hot path); Django's own
        # client-binding cursors never do, whatever this says.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Rate-limit counters: a file cache is shared by all processes on one host without database
# round trips; several web hosts should point CACHE_URL at Redis or memcached.
CACHES = {"default": env.cache_url("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:home"

# Login lockout: after 5 failures for a username from one address, 15 minutes of waiting.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.25
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

RATELIMIT_SUBMISSIONS = env.str("RATELIMIT_SUBMISSIONS", default="30/m")
RATELIMIT_LOGIN = env.str("RATELIMIT_LOGIN", default="20/m")
RATELIMIT_VIEW = "rathaus.core.views.ratelimited"

LANGUAGE_CODE = "de"
LANGUAGES = [("de", "Deutsch"), ("en", "English")]
LOCALE_PATHS = [SRC_DIR / "locale"]
TIME_ZONE = "Europe/Berlin"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every start while collectstatic has not run
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
# Documents: the file system under MEDIA_ROOT, or S3-compatible storage (STORAGE_BACKEND=s3, AWS_* variables).
STORAGES = storages_from_env(env, media_root=MEDIA_ROOT)
WHITENOISE_USE_FINDERS = True

# Uploads: the form's own limits are stricter; these cap what Django reads at all.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=15 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
RATHAUS_MAX_BODY_BYTES = env.int("RATHAUS_MAX_BODY_BYTES", default=15 * 1024 * 1024)
# Upload checks of the case file (rathaus.cases.uploads): size, types, ZIP containers, malware scanners.
RATHAUS_UPLOAD_MAX_BYTES = env.int("RATHAUS_UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
RATHAUS_UPLOAD_ALLOWED_TYPES = env.list("RATHAUS_UPLOAD_ALLOWED_TYPES", default=["application/pdf", "image/png", "image/jpeg"])
RATHAUS_ARCHIVE_MAX_ENTRIES = env.int("RATHAUS_ARCHIVE_MAX_ENTRIES", default=1000)
RATHAUS_ARCHIVE_MAX_UNCOMPRESSED_BYTES = env.int("RATHAUS_ARCHIVE_MAX_UNCOMPRESSED_BYTES", default=100 * 1024 * 1024)
RATHAUS_ARCHIVE_MAX_RATIO = env.int("RATHAUS_ARCHIVE_MAX_RATIO", default=100)
CLAMAV_URL = env.str("CLAMAV_URL", default="")  # tcp://127.0.0.1:3310 or unix:///run/clamav/clamd.ctl
CLAMAV_TIMEOUT = env.float("CLAMAV_TIMEOUT", default=30.0)
RATHAUS_UPLOAD_SCANNERS = env.list("RATHAUS_UPLOAD_SCANNERS", default=["clamav"] if CLAMAV_URL else [])

# Four slashes: django-environ strips one, and the path must stay absolute.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="filemail:///" + str(VAR_DIR / "mail"))
vars().update(EMAIL_CONFIG)
# Seconds an SMTP connection may hang: the outbox holds the message's row lock while it sends.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# Attempts before the outbox gives an e-mail or back-office call up (waits double from 1 minute to 6 hours).
RATHAUS_OUTBOX_MAX_ATTEMPTS = env.int("RATHAUS_OUTBOX_MAX_ATTEMPTS", default=15)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Rathaus <noreply@rathaus.example>")

TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
    }
}
# Days the rows of finished jobs (successful or failed) stay in the job queue's table (daily job core.task_results).
RATHAUS_TASK_RESULTS_DAYS = env.int("RATHAUS_TASK_RESULTS_DAYS", default=14)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Strict CSP: no inline script or style; scripts only from our own origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

NINJA_PAGINATION_PER_PAGE = 50
CSRF_FAILURE_VIEW = "rathaus.core.views.csrf_failure"

# name → (task, interval in seconds); the worker enqueues each when due.
RATHAUS_PERIODIC_TASKS = {
    "applications.retention": ("rathaus.applications.tasks.apply_retention", 24 * 3600),
    # Case files: delete documents whose retention class has run out (legal holds excepted).
    "cases.retention": ("rathaus.cases.tasks.apply_document_retention", 24 * 3600),
    # Decision letters provided for retrieval and not retrieved within 10 days go to post (§ 41 (2a) VwVfG).
    "cases.decision_provisions": ("rathaus.cases.tasks.end_unretrieved_provisions", 3600),
    # Processes: fire due timers, deliver the outbox, restart work a killed worker left behind.
    "processes.timers": ("rathaus.processes.tasks.fire_due_timers", env.int("RATHAUS_PROCESS_TIMER_SECONDS", default=60)),
    "processes.sweep": ("rathaus.processes.tasks.sweep", env.int("RATHAUS_PROCESS_SWEEP_SECONDS", default=60)),
    "processes.deadlines": ("rathaus.processes.tasks.task_deadlines", 3600),
    # Exchange registrations withdrawn or allocated before RATHAUS_EXCHANGE_RETENTION_YEARS lose the child's data.
    "exchanges.retention": ("rathaus.exchanges.tasks.apply_retention", 24 * 3600),
    # Daycare offers answer by a date; checking hourly expires them within an hour of the deadline.
    "exchanges.place_offers_expire": ("rathaus.exchanges.tasks.expire_place_offers", 3600),
    # Domain events to subscribers: fan out what a job missed, retry deliveries whose backoff ran out.
    "integration.deliveries": ("rathaus.integration.tasks.deliveries_sweep",
                               env.int("RATHAUS_WEBHOOK_SWEEP_SECONDS", default=30)),
    # IP addresses in the audit trail and in the login records older than RATHAUS_AUDIT_IP_DAYS.
    "core.erase_old_ips": ("rathaus.core.tasks.erase_old_ips", 24 * 3600),
    # Rate-limit counters of past windows (one row per client address and endpoint).
    "core.rate_counters": ("rathaus.core.tasks.prune_rate_counters", 3600),
    # Rows of finished jobs (their arguments and results) older than RATHAUS_TASK_RESULTS_DAYS.
    "core.task_results": ("rathaus.core.tasks.prune_task_results", 24 * 3600),
    # The delivery log's retention (RATHAUS_DELIVERY_LOG_DAYS).
    "integration.prune": ("rathaus.integration.tasks.deliveries_prune", 24 * 3600),
}

# Deliveries of domain events to webhooks and office mailboxes (docs/integration.md).
# Webhooks may only reach public addresses unless the operator allows internal ones (a back-office
# system in the town's own network): otherwise a tenant admin could make the server call its neighbours.
RATHAUS_WEBHOOK_ALLOW_PRIVATE = env.bool("RATHAUS_WEBHOOK_ALLOW_PRIVATE", default=False)
# The back-office system the process step `notify_backoffice` posts to when its model names no
# `url`. Set by the operator, so it may lie in the town's own network (a model's `url` may not).
RATHAUS_BACKOFFICE_URL = env.str("RATHAUS_BACKOFFICE_URL", default="")
# Whole calendar years after the year an exchange registration ended (withdrawn, daycare place begun,
# holiday programme over) before the child's data is removed: time for objections and the next year's rounds.
RATHAUS_EXCHANGE_RETENTION_YEARS = env.int("RATHAUS_EXCHANGE_RETENTION_YEARS", default=1)
# Days an IP address is kept in the audit trail and the login records, to trace abuse (a failed
# login series, a flood of submissions); then it is erased. The privacy page names the period.
RATHAUS_AUDIT_IP_DAYS = env.int("RATHAUS_AUDIT_IP_DAYS", default=90)
# How long finished deliveries, their attempts and old events stay in the delivery log.
RATHAUS_DELIVERY_LOG_DAYS = env.int("RATHAUS_DELIVERY_LOG_DAYS", default=180)
RATHAUS_WEBHOOK_TIMEOUT_SECONDS = env.float("RATHAUS_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
RATHAUS_WEBHOOK_MAX_ATTEMPTS = env.int("RATHAUS_WEBHOOK_MAX_ATTEMPTS", default=15)
RATHAUS_WEBHOOK_MAX_AGE_HOURS = env.float("RATHAUS_WEBHOOK_MAX_AGE_HOURS", default=48.0)
RATHAUS_WEBHOOK_BACKOFF_BASE_SECONDS = env.float("RATHAUS_WEBHOOK_BACKOFF_BASE_SECONDS", default=30.0)
RATHAUS_WEBHOOK_BACKOFF_MAX_SECONDS = env.float("RATHAUS_WEBHOOK_BACKOFF_MAX_SECONDS", default=6 * 3600.0)
RATHAUS_WEBHOOK_SECRET_GRACE_HOURS = env.float("RATHAUS_WEBHOOK_SECRET_GRACE_HOURS", default=24.0)

# Map tiles for the directories' map. Empty: no map (the list works without it). Production should
# use its own tile server; OpenStreetMap's public tiles are for light use only (their usage policy).
RATHAUS_MAP_TILE_URL = env.str("RATHAUS_MAP_TILE_URL", default="")
RATHAUS_MAP_ATTRIBUTION = env.str("RATHAUS_MAP_ATTRIBUTION", default="© OpenStreetMap contributors")
