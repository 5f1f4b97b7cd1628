"""Personal link tokens: made from ``secrets``, stored and looked up only by their hash."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 24  # 192 bits


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_for(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}/i/{token}"


def looks_like_token(value: str) -> bool:
    """Cheap shape check before any lookup (32 url-safe characters for 24 bytes)."""
    return 16 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)
