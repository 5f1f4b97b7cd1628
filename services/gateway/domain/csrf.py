"""Cross-site request forgery protection: the decisions, without I/O.

Policy (documented for API clients):

- Session cookies are ``HttpOnly; SameSite=Lax`` (``Secure`` on https), so a
  browser does not send them with a cross-site POST/PUT/PATCH/DELETE at all.
- Every unsafe request is refused (403) when its ``Origin`` header names another
  origin than the gateway's, or when the browser marks it ``Sec-Fetch-Site:
  cross-site``. Non-browser clients send neither header and are not affected.
- Web-page forms (everything outside ``/api/``) must also carry the session's
  synchronizer token, as the ``csrf_token`` form field or the ``X-CSRF-Token``
  header; the token is bound to the session row, not just to a cookie.
- ``/api/v1`` requests authenticated by the session cookie may send the same
  ``X-CSRF-Token`` header (the pages' script always does); when sent it must
  match. Requests authenticated with ``Authorization: Bearer`` carry no ambient
  credential and need nothing more.
- Login (page and API) has no session yet: the Origin checks apply.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` in lower case, with the default port left out."""
    parts = urlsplit(url.strip())
    scheme = (parts.scheme or "").lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def cross_origin_refusal(
    *, origin: str | None, sec_fetch_site: str | None, allowed_origins: set[str]
) -> str | None:
    """Why an unsafe request looks cross-site, or None when it does not."""
    site = (sec_fetch_site or "").strip().lower()
    if site == "cross-site":
        return "cross-site request refused"
    if origin is None or origin.strip() == "":
        return None
    if origin.strip().lower() == "null":
        # A form on one of our own ``Referrer-Policy: no-referrer`` pages (the student's
        # link pages) is sent with "Origin: null"; the browser's own Sec-Fetch-Site (a
        # header pages cannot set) still says where it came from.
        return None if site == "same-origin" else "request from another origin refused"
    if origin_of(origin) not in allowed_origins:
        return "request from another origin refused"
    return None


def token_refusal(*, expected: str | None, given: str | None, required: bool) -> str | None:
    """Why the synchronizer token check fails, or None."""
    if given is None or given == "":
        return "CSRF token missing" if required else None
    if not tokens_match(expected, given):
        return "CSRF token does not match the session"
    return None
