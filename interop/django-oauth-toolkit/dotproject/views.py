"""The test project's own views: the signed-in user and the protected resource.

Both are built on Django's and DOT's public classes; nothing of DOT is replaced.
"""

import contextlib
import hashlib
import sys
import threading
import time

from django.contrib.auth import get_user_model
from django.http import HttpResponse, JsonResponse

from oauth2_provider.views.generic import ProtectedResourceMetadataView

USERNAME = "alice"

# When the serving thread took the current connection from the accept queue (start.py).
ACCEPTED = threading.local()


class SlowRequestLog:
    """Writes each request slower than SLOW_SECONDS to stderr: method, path and time only
    (never a query string or a body, which hold codes and tokens). A request the harness
    gave up on shows here with how long it really took."""

    SLOW_SECONDS = 2.0

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        queued = started - getattr(ACCEPTED, "at", started)
        facts = refresh_token_facts(request)
        response = self.get_response(request)
        took = time.monotonic() - started
        if took >= self.SLOW_SECONDS or queued >= self.SLOW_SECONDS:
            print(
                f"slow request: {request.method} {request.path} {response.status_code} "
                f"in {took:.1f} s after {queued:.1f} s in the queue",
                file=sys.stderr,
                flush=True,
            )
        if facts is not None and response.status_code == 400 and b"invalid_grant" in response.content:
            print(f"refused refresh: {facts}", file=sys.stderr, flush=True)
        return response


def refresh_token_facts(request):
    """What the database says of a presented refresh token before DOT reads it (revoked
    how long ago, its access token's expiry): printed when the refresh is refused, to tell
    a token that died early from one refused by the clock. The token itself is never
    printed."""
    if request.method != "POST" or request.path != "/o/token/":
        return None
    if request.POST.get("grant_type") != "refresh_token":
        return None
    from django.utils import timezone
    from oauth2_provider.models import get_refresh_token_model

    presented_by = request.POST.get("client_id", "")
    basic = request.META.get("HTTP_AUTHORIZATION", "")
    if basic.startswith("Basic "):
        import base64

        with contextlib.suppress(ValueError, UnicodeDecodeError):
            presented_by = base64.b64decode(basic[6:]).decode().split(":", 1)[0]
    value = request.POST.get("refresh_token", "")
    checksum = hashlib.sha256(value.encode("utf-8")).hexdigest()
    rows = (
        get_refresh_token_model()
        .objects.filter(token_checksum=checksum)
        .select_related("access_token", "application")
    )
    now = timezone.now()
    out = []
    for rt in rows:
        age = (now - rt.created).total_seconds()
        revoked = f"revoked {(now - rt.revoked).total_seconds():.1f} s ago" if rt.revoked else "live"
        at = rt.access_token
        at_text = f"access token expires in {(at.expires - now).total_seconds():.1f} s" if at else "no access token"
        out.append(
            f"issued {age:.1f} s ago to {rt.application.client_id}, presented by "
            f"{presented_by or 'no client'}, {revoked}, {at_text}"
        )
    return "; ".join(out) or "unknown token"


class SignedInUserMiddleware:
    """The test user is signed in on the authorization endpoint, as after a login page.

    Only /o/authorize/ sees a user: the token, revocation and introspection endpoints
    authenticate clients, never users, and must not be given one.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.user = None

    def __call__(self, request):
        if request.path.startswith("/o/authorize/"):
            if self.user is None:
                self.user = get_user_model().objects.get(username=USERNAME)
            request.user = self.user
        return self.get_response(request)


class Resource(ProtectedResourceMetadataView):
    """A protected resource: DOT's bearer-token check, with its RFC 6750 challenge.

    ProtectedResourceMetadataView answers a missing, expired or revoked token with 401
    and `WWW-Authenticate: Bearer error="invalid_token"` (the plain ProtectedResourceView
    answers a bare 403).
    """

    def get(self, request, *args, **kwargs):
        response = JsonResponse({"user": request.resource_owner.get_username()})
        response["Cache-Control"] = "no-store"
        return response


def callback(request):
    """The clients' redirect URI: the harness reads the code from the Location header and
    never follows it; answering keeps a stray visit from a 404."""
    return HttpResponse("authorization response received\n", content_type="text/plain")
