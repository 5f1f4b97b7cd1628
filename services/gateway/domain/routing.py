"""Which service owns a public ``/api/v1`` path (the table in the brief), and path helpers."""

from __future__ import annotations

from urllib.parse import urlsplit

API_PREFIX = "/api/v1"

# Longest prefixes first is not needed: no prefix is a prefix of another at a boundary.
OWNERS: tuple[tuple[str, str], ...] = (
    ("/api/v1/students", "invite_service"),
    ("/api/v1/sections", "invite_service"),
    ("/api/v1/reasons", "invite_service"),
    ("/api/v1/terms", "invite_service"),
    ("/api/v1/widgets", "invite_service"),
    ("/api/v1/invites", "invite_service"),
    ("/api/v1/duration-rules", "invite_service"),
    ("/api/v1/faculty", "invite_service"),
    ("/api/v1/centers", "search_service"),
    ("/api/v1/consultants", "search_service"),
    ("/api/v1/availabilities", "search_service"),
    ("/api/v1/invitations", "search_service"),
    ("/api/v1/appointments", "search_service"),
    ("/api/v1/reports", "report_service"),
    ("/api/v1/mail", "notify_service"),
)

# Paths the gateway answers itself (never forwarded).
GATEWAY_PREFIXES: tuple[str, ...] = (
    "/api/v1/auth",
    "/api/v1/users",
    "/api/v1/test",
    "/api/v1/openapi.json",
)

STUDENT_PREFIX = "/api/v1/invitations/"


def _under(path: str, prefix: str) -> bool:
    # "/api/v1/students:import" belongs to students; "/api/v1/studentsx" does not.
    return path == prefix or (path.startswith(prefix) and path[len(prefix)] in "/:")


def owner_of(path: str) -> str | None:
    for prefix, service in OWNERS:
        if _under(path, prefix):
            return service
    return None


def is_gateway_path(path: str) -> bool:
    return any(_under(path, p) for p in GATEWAY_PREFIXES)


def student_token(path: str) -> str | None:
    """The token of ``/api/v1/invitations/{token}[/...]``, the routes a student's link opens."""
    if not path.startswith(STUDENT_PREFIX):
        return None
    token = path[len(STUDENT_PREFIX) :].split("/", 1)[0]
    return token or None


def safe_next(target: str | None, default: str = "/") -> str:
    """A post-login redirect target that stays on this site (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    return target
