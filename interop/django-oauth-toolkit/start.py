"""django-oauth-toolkit 3.4.1 as a tokenlife target: the package configured, not modified.

Creates a fresh SQLite database (migrations of DOT and django.contrib.auth), the test user
and two applications, starts a threaded WSGI server on 127.0.0.1 (port $PORT, default 0 =
any free port), then writes a tokenlife target file to $TARGET_FILE (default ./target.toml)
and prints `ready <issuer>`. Stop it with SIGTERM or SIGINT.

What is configured, and why (dotproject/settings.py holds DOT's settings):
- two applications, authorization code + refresh token: a confidential one
  (client_secret_basic) and a public one (none + PKCE, which DOT requires of every client
  here: PKCE_REQUIRED); both `skip_authorization`, so the signed-in test user's
  authorization redirects at once with a code (tokenlife's authorize mode "redirect");
- scopes `read write` (DOT's SCOPES), no OpenID Connect;
- ACCESS_TOKEN_EXPIRE_SECONDS / REFRESH_TOKEN_EXPIRE_SECONDS from $ACCESS_TTL / $REFRESH_TTL
  (default 5 s / 5 s), rotation on, no grace period, reuse protection on;
- revocation (/o/revoke_token/) and introspection (/o/introspect/, which DOT lets any
  authenticated client call: the confidential application introspects for both);
- /api/resource: DOT's ProtectedResourceMetadataView (401 with a Bearer challenge).
"""

import contextlib
import os
import queue
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "127.0.0.1"


def seconds(name, default):
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or int(raw) <= 0:
        sys.exit(f"{name} must be a positive number of seconds, not {raw!r}")
    return int(raw)


ACCESS_TTL = seconds("ACCESS_TTL", 5)
REFRESH_TTL = seconds("REFRESH_TTL", 5)
os.environ["ACCESS_TTL"] = str(ACCESS_TTL)
os.environ["REFRESH_TTL"] = str(REFRESH_TTL)
PORT = int(os.environ.get("PORT", "0") or 0)
TARGET_FILE = os.environ.get("TARGET_FILE", "target.toml")
# DOT compares datetimes at microsecond precision and the harness measures its own
# latency; 1 s covers a slow request, as for node-oidc-provider's whole seconds.
SKEW = os.environ.get("SKEW", "2s")
# The policy the target declares: policy.toml (what DOT does), or with $PROFILE a built-in
# profile to compare against (e.g. PROFILE=bcp).
PROFILE = os.environ.get("PROFILE", "")
# Server processes, and worker threads in each: requests beyond these wait in the queue.
PROCESSES = int(os.environ.get("PROCESSES", "2") or 2)
THREADS = int(os.environ.get("THREADS", "8") or 8)
SCOPE = "read write"

data_dir = tempfile.mkdtemp(prefix="tokenlife-dot-")
os.environ.setdefault("DOT_DATABASE", os.path.join(data_dir, "db.sqlite3"))
os.environ["DOT_SECRET_KEY"] = secrets.token_hex(32)
os.environ["DJANGO_SETTINGS_MODULE"] = "dotproject.settings"
sys.path.insert(0, HERE)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connections  # noqa: E402


def seed(redirect_uri):
    """The test user and the two applications; returns the confidential client's secret."""
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import get_application_model

    from dotproject.views import USERNAME

    user = get_user_model().objects.create_user(USERNAME, password=secrets.token_hex(16))
    application = get_application_model()
    secret = secrets.token_urlsafe(32)
    common = dict(
        user=user,
        authorization_grant_type=application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uri,
        skip_authorization=True,
        algorithm="",
    )
    application.objects.create(
        client_id="app-confidential",
        client_secret=secret,  # hashed on save (hash_client_secret, the default)
        client_type=application.CLIENT_CONFIDENTIAL,
        name="tokenlife confidential",
        **common,
    )
    application.objects.create(
        client_id="app-public",
        client_secret="",
        client_type=application.CLIENT_PUBLIC,
        name="tokenlife public",
        **common,
    )
    return secret


def policy_knobs():
    """The knobs of policy.toml (flat `key = value` lines), comments dropped."""
    if PROFILE:
        return f'profile = "{PROFILE}"'
    with open(os.path.join(HERE, "policy.toml"), encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    return "\n".join(line for line in lines if line and not line.startswith("#"))


def refresh_ttl(knobs):
    """The refresh_ttl to declare. DOT counts REFRESH_TOKEN_EXPIRE_SECONDS from the expiry of
    the access token issued with the refresh token: with the `refresh_ttl_anchor =
    "access-expiry"` knob that is REFRESH_TTL itself; without it (a policy that knows only
    lifetimes counted from issue) it is ACCESS_TTL + REFRESH_TTL from issue, the same
    deadline for every refresh token here (each is issued with its access token)."""
    if 'refresh_ttl_anchor = "access-expiry"' in knobs.splitlines():
        return REFRESH_TTL
    return ACCESS_TTL + REFRESH_TTL


def target_toml(issuer, redirect_uri, secret):
    knobs = policy_knobs()
    return f"""# Written by interop/django-oauth-toolkit/start.py for this run of django-oauth-toolkit.
[server]
issuer = "{issuer}"
resource_url = "{issuer}/api/resource"

[[clients]]
id = "app-confidential"
secret = "{secret}"
auth = "client_secret_basic"
redirect_uri = "{redirect_uri}"
scope = "{SCOPE}"

[[clients]]
id = "app-public"
auth = "none"
redirect_uri = "{redirect_uri}"
scope = "{SCOPE}"

[authorize]
mode = "redirect"

# DOT lets any authenticated client introspect any access token (views/introspect.py,
# IntrospectTokenView: ClientProtectedScopedResourceView); the public client cannot
# authenticate, so the confidential one asks for both.
[introspection]
client_id = "app-confidential"
client_secret = "{secret}"

[clock]
mode = "real"
skew = "{SKEW}"

[policy]
{knobs}
access_ttl = "{ACCESS_TTL}s"
refresh_ttl = "{refresh_ttl(knobs)}s"
"""


class Handler(WSGIRequestHandler):
    """Django's request handler, without its access log (it would print every URL)."""

    def log_message(self, format, *args):
        pass


class PooledServer(WSGIServer):
    """Django's WSGI server with a fixed pool of worker threads and a deep accept queue.

    Django's runserver starts a thread per connection and listens with a backlog of 10;
    the harness opens a hundred connections at once, and connections beyond the backlog
    wait for the kernel's SYN retries (1 s, 3 s, ...). The pool is started by `serve`, in
    the process that serves (threads do not survive a fork). Each response closes its
    connection (Django's handler keeps connections alive only for a thread-per-connection
    server), so an idle client connection never holds a worker.
    """

    request_queue_size = 1024

    def serve(self, threads):
        self.jobs = queue.Queue()
        for _ in range(threads):
            threading.Thread(target=self.worker, daemon=True).start()
        self.serve_forever()

    def worker(self):
        from dotproject.views import ACCEPTED

        while True:
            request, client_address, accepted = self.jobs.get()
            ACCEPTED.at = accepted
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def process_request(self, request, client_address):
        self.jobs.put((request, client_address, time.monotonic()))


def main():
    call_command("migrate", verbosity=0, interactive=False)
    server = PooledServer((HOST, PORT), Handler, ipv6=False)
    server.set_app(get_wsgi_application())
    port = server.server_address[1]
    issuer = f"http://{HOST}:{port}"
    redirect_uri = f"{issuer}/cb"
    secret = seed(redirect_uri)
    # Python runs one thread at a time, and DOT spends about 10 ms of CPU on a request:
    # one process is a one-core server. PROCESSES processes accept on the same socket
    # and share the SQLite file (WAL; IMMEDIATE transactions serialise the writers).
    connections.close_all()
    children = []
    for _ in range(PROCESSES - 1):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            server.serve(THREADS)
            os._exit(0)
        children.append(pid)

    def stop(signum, frame):
        # Every process waits on the same listening socket and only one accept() gets a
        # connection, so a process may sit in accept() until the next one: stop at once
        # rather than through serve_forever's shutdown, which would wait for it.
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        shutil.rmtree(data_dir, ignore_errors=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(TARGET_FILE, "w", encoding="utf-8") as f:
        f.write(target_toml(issuer, redirect_uri, secret))
    print(f"ready {issuer}", flush=True)
    server.serve(THREADS)


if __name__ == "__main__":
    main()
