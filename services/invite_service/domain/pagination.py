"""Opaque cursors for ``?limit=&cursor=`` listings (keyset pagination)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


class BadCursor(ValueError):
    pass


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, length: int) -> list[Any]:
    """The key a cursor carries; BadCursor when it was not made by ``encode_cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadCursor("is not a cursor from this listing") from exc
    if not isinstance(key, list) or len(key) != length:
        raise BadCursor("is not a cursor from this listing")
    if not all(isinstance(k, str) for k in key):
        raise BadCursor("is not a cursor from this listing")
    return key
