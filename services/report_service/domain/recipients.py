"""The recipients of a report delivery: ``a@x.edu;b@x.edu`` (or a list) to clean addresses.

Each address must be a plain ``local@domain.tld`` (no display names, no
spaces, no control characters: a CR/LF could inject mail headers), at most
254 characters; duplicates (case-insensitive) are dropped, the first spelling
kept. Commas are accepted as separators too, since spreadsheets and mail
clients copy lists that way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_RECIPIENTS = 50
MAX_ADDRESS_LENGTH = 254

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidRecipients(ValueError):
    pass


def parse_recipients(raw: str | Iterable[str]) -> list[str]:
    items = [raw] if isinstance(raw, str) else list(raw)
    for item in items:
        if _CONTROL.search(item.strip(" ")):
            # Checked before splitting so "a@x.edu\r\nBcc: evil@y" is refused whole.
            raise InvalidRecipients("addresses may not contain line breaks or control characters")
    parts = [p.strip() for item in items for p in re.split(r"[;,]", item)]
    addresses = [p for p in parts if p]
    if not addresses:
        raise InvalidRecipients("at least one email address is required")
    bad = [a for a in addresses if len(a) > MAX_ADDRESS_LENGTH or not _ADDRESS.fullmatch(a)]
    if bad:
        shown = ", ".join(repr(a[:60]) for a in bad[:5])
        raise InvalidRecipients(f"not a valid email address: {shown}")
    unique: dict[str, str] = {}
    for address in addresses:
        unique.setdefault(address.lower(), address)
    if len(unique) > MAX_RECIPIENTS:
        raise InvalidRecipients(f"at most {MAX_RECIPIENTS} addresses, got {len(unique)}")
    return list(unique.values())
