"""Settings for Swabline, read from the environment (see .env.example).

Development is the default: SQLite next to the code, an insecure key, DEBUG off
unless asked for. `SWABLINE_PRODUCTION=1` turns on the production checks: the
process refuses to start without a real SECRET_KEY and ALLOWED_HOSTS.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from swabline.core.databases import cache_settings, database_settings
from swabline.env import env_bool, env_int, env_list, env_required, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

PRODUCTION = env_bool("SWABLINE_PRODUCTION")
DEBUG = env_bool("DEBUG") and not PRODUCTION

_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"  # noqa: S105
if PRODUCTION:
    SECRET_KEY = env_required(
        "SECRET_KEY",
        "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))'",
    )
    if SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise RuntimeError("SECRET_KEY must be a random string of at least 50 characters.")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        env_required("ALLOWED_HOSTS", "A comma-separated list, e.g. swabline.example.vn")
else:
    SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY)
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")

CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "swabline.core",
    "swabline.audit",
    "swabline.places",
    "swabline.accounts",
    "swabline.labs",
    "swabline.campaigns",
    "swabline.people",
    "swabline.sampling",
    "swabline.shipping",
    "swabline.results",
    "swabline.notifications",
    "swabline.lookup",
    "swabline.certificates",
    "swabline.interop",
    "swabline.backfill",
    "swabline.dashboard",
    "swabline.reports",
    "swabline.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "swabline.core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "swabline.core.middleware.UnstorableTextMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: which OTP device verified this session (django-otp),
    # sessions idle too long end, and officials, supervisors and admins who have not
    # passed their second factor are sent to it (swabline.accounts.middleware).
    "django_otp.middleware.OTPMiddleware",
    "swabline.accounts.middleware.IdleSessionMiddleware",
    "swabline.accounts.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "swabline.core.middleware.RequestLogMiddleware",
    "swabline.core.db_router.ReplicaReadsMiddleware",
    # Near the end, as django-axes asks: turns a locked-out login into its lock-out page.
    "axes.middleware.AxesMiddleware",
    # Last, so its process_exception runs first: a refused audit write answers 503.
    "swabline.audit.middleware.AuditFailureMiddleware",
]

ROOT_URLCONF = "swabline.urls"
WSGI_APPLICATION = "swabline.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------
# SQLite is the default (a demo or a commune); PostgreSQL serves a province, behind
# pgbouncer when several web and worker processes share it (docs/deploy.md).
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# "transaction" when DATABASE_URL points at pgbouncer in transaction mode.
DATABASE_POOLER = env_str("DATABASE_POOLER")
_db = database_settings(
    DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), pooler=DATABASE_POOLER
)
if env_str("TEST_DATABASE_NAME"):
    # Lets two test runs (two checkouts, or CI beside a developer) share one server.
    _db["TEST"]["NAME"] = env_str("TEST_DATABASE_NAME")
DATABASES = {"default": _db}
# Dashboards and exports (REPLICA_READ_VIEWS) read from a streaming replica while it
# answers and lags less than REPLICA_MAX_LAG_SECONDS (swabline/core/db_router.py).
REPLICA_DATABASE_URL = env_str("REPLICA_DATABASE_URL")
REPLICA_MAX_LAG_SECONDS = env_int("REPLICA_MAX_LAG_SECONDS", 30)
REPLICA_CHECK_SECONDS = env_int("REPLICA_CHECK_SECONDS", 5)
REPLICA_READ_VIEWS = env_list(
    "REPLICA_READ_VIEWS",
    "dashboard:home,dashboard:progress,dashboard:live,dashboard:alarm,reports:*,"
    "people:export-*,results:recall-export,api-v1:progress,api-v1:turnaround_times,"
    "api-v1:pool_size_advice",
)
if REPLICA_DATABASE_URL:
    DATABASES["replica"] = database_settings(
        REPLICA_DATABASE_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        pooler=env_str("REPLICA_DATABASE_POOLER", DATABASE_POOLER),
        connect_timeout=env_int("REPLICA_CONNECT_TIMEOUT", 2),
    )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["swabline.core.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts -------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)
# A session unused this long ends (on top of the absolute SESSION_COOKIE_AGE); the
# last activity is written at most once a minute (SESSION_IDLE_TOUCH_SECONDS).
SESSION_IDLE_SECONDS = env_int("SESSION_IDLE_SECONDS", 30 * 60)
SESSION_IDLE_TOUCH_SECONDS = env_int("SESSION_IDLE_TOUCH_SECONDS", 60)
# Second factor (TOTP, with backup codes): required of these roles and of superusers.
# Development and demos may turn it off (REQUIRE_TWO_FACTOR=0); tests run with it on.
REQUIRE_TWO_FACTOR = env_bool("REQUIRE_TWO_FACTOR", True)
TWO_FACTOR_ROLES = env_list("TWO_FACTOR_ROLES", "admin,official,lab_supervisor")
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Swabline")
# Login lock-out (django-axes): this many failures for one username from one address
# lock that pair for AXES_COOLOFF_MINUTES; the web form and POST /api/v1/auth/token
# count alike. A successful login clears the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_CALLABLE = "swabline.accounts.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Axes would log usernames and addresses and keep a log of every login: our audit and
# request logs hold what we need, and the log-PII rule forbids the rest.
AXES_VERBOSE = False
AXES_DISABLE_ACCESS_LOG = True
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", 90)

# --- Internationalisation -------------------------------------------------------
LANGUAGE_CODE = "vi"
LANGUAGES = [("vi", _("Vietnamese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["swabline.formats"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Ho_Chi_Minh")
USE_I18N = True
USE_TZ = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# --- Static files ---------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_MIMETYPES = {".webmanifest": "application/manifest+json", ".wasm": "application/wasm"}

# --- Background work ------------------------------------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
TASK_MAX_ATTEMPTS = env_int("TASK_MAX_ATTEMPTS", 5)
TASK_RETRY_BASE_SECONDS = env_int("TASK_RETRY_BASE_SECONDS", 10)

# --- Cache ----------------------------------------------------------------------
# Redis in production: rate limits (swabline/core/ratelimit.py) and the dashboard's
# figures are then shared by every process; local memory counts per process.
REDIS_URL = env_str("REDIS_URL")
CACHES = cache_settings(REDIS_URL, key_prefix=env_str("CACHE_KEY_PREFIX", "swabline"))
# Addresses of the TLS proxies in front of the web processes: from them, the client
# address is taken from X-Forwarded-For (rate limits count per real client).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")

# --- Security -------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
CSP_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'; worker-src 'self' blob:"
)
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Logging --------------------------------------------------------------------
# One JSON object per line. Only ids and paths: never names, phones or national IDs.
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "swabline.core.logs.JsonFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        # django-axes reports every reset of a failure count at INFO.
        "axes": {"level": "WARNING"},
    },
}

# --- People imports -------------------------------------------------------------
# Uploaded lists and their side files. Personal data: keep it on encrypted storage,
# shared by every worker host.
PEOPLE_IMPORT_DIR = env_str("PEOPLE_IMPORT_DIR", str(BASE_DIR / "var" / "imports"))

# --- Retention (swabline.people.retention) -----------------------------------------
# People inactive this many days are pseudonymised by `manage.py apply_retention`
# (run it daily); counts per ward, sex and year of birth are kept.
RETENTION_DAYS = env_int("RETENTION_DAYS", 365)
# Uploaded people lists (and their cleaned/failing-row side files and kept row
# errors) are deleted by the same command this many hours after their last activity.
IMPORT_UPLOAD_KEEP_HOURS = env_int("IMPORT_UPLOAD_KEEP_HOURS", 72)

# --- FHIR interop (swabline.interop) -----------------------------------------
# Identifier systems are URIs under this base (our person code, public id, labs,
# outcome codes): set it to a URL the deployment owns.
FHIR_IDENTIFIER_BASE = env_str("FHIR_IDENTIFIER_BASE", "https://swabline.example.org/fhir")
# Where bulk NDJSON exports are written (personal data: encrypted storage, shared by
# every worker host), and how long a finished export is kept.
FHIR_EXPORT_DIR = env_str("FHIR_EXPORT_DIR", str(BASE_DIR / "var" / "fhir-exports"))
FHIR_EXPORT_KEEP_HOURS = env_int("FHIR_EXPORT_KEEP_HOURS", 24)
# The swab the campaigns take for RT-PCR: "nasopharyngeal" or "oropharyngeal".
FHIR_PCR_SWAB_SITE = env_str("FHIR_PCR_SWAB_SITE", "oropharyngeal")
# A partner recording consents with wrong codes or birth dates this many times in an
# hour is refused altogether until the hour ends (no guessing dates of birth).
CONSENT_FAILURE_LIMIT = env_int("CONSENT_FAILURE_LIMIT", 20)

# --- Public endpoints ---------------------------------------------------------
# Registrations per client address per hour (public form and API).
REGISTRATION_RATE_LIMIT = env_int("REGISTRATION_RATE_LIMIT", 30)
# Result look-up (swabline.lookup): failed tries an identity (code, CCCD or phone)
# may have per window and per day before it locks (until the window passes or
# staff unlock it), failed tries a client address may have per window before it
# gets 429, and how long a successful look-up lets the browser see the result.
LOOKUP_MAX_FAILURES = env_int("LOOKUP_MAX_FAILURES", 5)
LOOKUP_WINDOW_MINUTES = env_int("LOOKUP_WINDOW_MINUTES", 15)
LOOKUP_DAILY_MAX_FAILURES = env_int("LOOKUP_DAILY_MAX_FAILURES", 20)
LOOKUP_CLIENT_MAX_FAILURES = env_int("LOOKUP_CLIENT_MAX_FAILURES", 50)
LOOKUP_CLIENT_WINDOW_MINUTES = env_int("LOOKUP_CLIENT_WINDOW_MINUTES", 15)
LOOKUP_GRANT_MINUTES = env_int("LOOKUP_GRANT_MINUTES", 30)
# PostgreSQL: the hot paths' raw statements (the station's scans and syncs,
# `swabline.sampling.bulk.select`) are prepared on the server (planned once per
# connection). Turn off behind a pooler in transaction mode that cannot keep them.
PREPARED_STATEMENTS = env_bool("PREPARED_STATEMENTS", DATABASE_POOLER != "transaction")
# The same for the look-up's one statement (defaults to PREPARED_STATEMENTS).
LOOKUP_PREPARED_STATEMENTS = env_bool("LOOKUP_PREPARED_STATEMENTS", PREPARED_STATEMENTS)

# --- Notifications (docs/notifications.md) ---------------------------------------
# Where messages point people to: the look-up page is PUBLIC_BASE_URL + /lookup/.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
NOTIFY_CHANNELS = env_list("NOTIFY_CHANNELS", "sms,email,webhook")
NOTIFY_LANGUAGE = env_str("NOTIFY_LANGUAGE", "vi")
# SMS: "console" prints (development); "http" posts to a gateway.
NOTIFY_SMS_BACKEND = env_str("NOTIFY_SMS_BACKEND", "console")
NOTIFY_SMS_URL = env_str("NOTIFY_SMS_URL")
NOTIFY_SMS_AUTH_HEADER = env_str("NOTIFY_SMS_AUTH_HEADER")  # e.g. "Bearer abc…"
NOTIFY_SMS_BASIC_AUTH = env_str("NOTIFY_SMS_BASIC_AUTH")  # "user:password"
NOTIFY_SMS_FORMAT = env_str("NOTIFY_SMS_FORMAT", "json")  # json | form
# A JSON object; string values may hold {to} {text} {key} {sender} placeholders.
NOTIFY_SMS_TEMPLATE = env_str(
    "NOTIFY_SMS_TEMPLATE", '{"to": "{to}", "text": "{text}", "sender": "{sender}"}'
)
NOTIFY_SMS_SENDER = env_str("NOTIFY_SMS_SENDER", "SWABLINE")
NOTIFY_SMS_ASCII = env_bool("NOTIFY_SMS_ASCII")  # strip Vietnamese diacritics
NOTIFY_SMS_MAX_SEGMENTS = env_int("NOTIFY_SMS_MAX_SEGMENTS", 3)
# More than 1: post this many messages per request ({"messages": [...]}).
NOTIFY_SMS_BATCH = env_int("NOTIFY_SMS_BATCH", 1)
NOTIFY_HTTP_TIMEOUT = env_int("NOTIFY_HTTP_TIMEOUT", 10)
# Delivery receipts (POST /api/v1/notifications/receipts/<channel>): empty refuses all.
NOTIFY_RECEIPT_SECRET = env_str("NOTIFY_RECEIPT_SECRET")
# The worker (manage.py notifications_worker).
NOTIFY_BATCH_SIZE = env_int("NOTIFY_BATCH_SIZE", 500)
NOTIFY_THREADS = env_int("NOTIFY_THREADS", 16)
NOTIFY_LEASE_SECONDS = env_int("NOTIFY_LEASE_SECONDS", 120)
NOTIFY_MAX_ATTEMPTS = env_int("NOTIFY_MAX_ATTEMPTS", 6)
NOTIFY_RETRY_BASE_SECONDS = env_int("NOTIFY_RETRY_BASE_SECONDS", 30)
NOTIFY_RETRY_MAX_SECONDS = env_int("NOTIFY_RETRY_MAX_SECONDS", 3600)
NOTIFY_POLL_SECONDS = env_int("NOTIFY_POLL_SECONDS", 1)
# E-mail: Django's backends (console in development; smtp with EMAIL_HOST…).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Swabline <no-reply@swabline.invalid>")

# --- Demo -----------------------------------------------------------------------
DEMO_PASSWORD = env_str("DEMO_PASSWORD", "swabline-demo")

# --- Certificates ---------------------------------------------------------------
# Who signs test certificates (the DCC `is` field, at most 80 characters), for how
# long a certificate and a signing key are valid, and which rapid antigen device
# (EU value set `ma`) a rapid-antigen campaign uses unless the lab names one.
CERTIFICATE_ISSUER = env_str("CERTIFICATE_ISSUER", "Trung tâm Kiểm soát Bệnh tật (Swabline)")
CERTIFICATE_COUNTRY = env_str("CERTIFICATE_COUNTRY", "VN")
CERTIFICATE_VALID_DAYS = env_int("CERTIFICATE_VALID_DAYS", 365)
CERTIFICATE_KEY_DAYS = env_int("CERTIFICATE_KEY_DAYS", 730)
CERTIFICATE_RAT_DEVICE = env_str("CERTIFICATE_RAT_DEVICE", "1232")
# Encrypts the signing keys in the database (decision 0007); defaults to SECRET_KEY.
CERTIFICATE_KEY_SECRET = env_str("CERTIFICATE_KEY_SECRET", "")

# --- Command center -------------------------------------------------------------
# How often the progress page polls for fresh figures, and how long computed figures
# of a (campaign, place, site) may be served from the cache to every official who
# may see that place (0: computed on every request, exact to the last event). Ten
# seconds keeps a province page under 50 ms however many officials watch it, and is
# well inside DESIGN §9's "refreshed within a minute" (decision 0013).
DASHBOARD_REFRESH_SECONDS = env_int("DASHBOARD_REFRESH_SECONDS", 30)
DASHBOARD_CACHE_SECONDS = env_int("DASHBOARD_CACHE_SECONDS", 10)
