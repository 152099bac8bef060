"""Settings of the test project that serves django-oauth-toolkit 3.4.1 to tokenlife.

Everything here is Django's or DOT's documented configuration; DOT itself is not modified.
start.py sets the environment variables read below before Django loads this module.
"""

import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))

# A fresh random key per start (start.py): nothing signed outlives the run.
SECRET_KEY = os.environ["DOT_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "oauth2_provider",
]

MIDDLEWARE = [
    "dotproject.views.SlowRequestLog",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The test user is signed in on the authorization endpoint (no login page), so the
    # harness's "redirect" authorize mode needs no browser.
    "dotproject.views.SignedInUserMiddleware",
]

# Sessions in a signed cookie: nothing to store, and the harness keeps no session anyway.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

# DOT renders its authorization errors with its own templates.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

ROOT_URLCONF = "dotproject.urls"
USE_TZ = True
TIME_ZONE = "UTC"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DOT_DATABASE"],
        "OPTIONS": {
            # Concurrent requests write from many threads: wait for the lock rather than
            # fail with "database is locked", take the write lock when a transaction
            # starts (no deadlock on a read lock upgraded to a write lock), and let
            # readers proceed beside the writer (WAL).
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}

# DOT stores client secrets hashed with the first of these (CLIENT_SECRET_HASHER
# "default"); PBKDF2's 1,000,000 iterations cost about half a second of CPU per
# client authentication, which the suite's thousands of confidential requests cannot
# afford on two cores. A cheap hasher is a test-project setting: what DOT does with the
# hash is the same.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    # Errors only: a token never reaches the log (DOT logs none at WARNING and above).
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "ERROR"},
        "oauth2_provider": {"handlers": ["stderr"], "level": "ERROR"},
    },
}


def _seconds(name, default):
    raw = os.environ.get(name, "")
    return int(raw) if raw else default


OAUTH2_PROVIDER = {
    "SCOPES": {"read": "Reading scope", "write": "Writing scope"},
    # Short lifetimes for a real clock.
    "ACCESS_TOKEN_EXPIRE_SECONDS": _seconds("ACCESS_TTL", 5),
    # A refresh token dies this long after the expiry of the access token issued with it
    # (oauth2_validators.py, validate_refresh_token).
    "REFRESH_TOKEN_EXPIRE_SECONDS": _seconds("REFRESH_TTL", 5),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    # Every refresh issues a new refresh token (the default, spelled out).
    "ROTATE_REFRESH_TOKEN": True,
    # No grace window (the default): a rotated token is dead at once.
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": _seconds("GRACE_PERIOD", 0),
    # A replayed rotated token revokes its family (RFC 9700 §4.14.2; off by default).
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
}
