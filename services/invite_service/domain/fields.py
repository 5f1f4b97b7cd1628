"""Field-level checks of directory and invite input, shared by the request models.

Every check returns the cleaned value or raises ``ValueError`` with a message a
person can act on; pydantic turns it into a 422 naming the field.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 100
MAX_LINE = 200
MAX_EMAIL = 254

# Letters, digits and a few separators: ids travel in URL paths and CSV cells.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$")
# Deliberately strict: one "@", no whitespace, no quotes, brackets, commas or
# semicolons, so an address can never carry a second header or recipient.
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
# Bidirectional overrides can make a name display as something else.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def has_control_characters(value: str, *, allow_newlines: bool = False) -> bool:
    for ch in value:
        if allow_newlines and ch in "\n\t":
            continue
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            return True
    return False


def clean_identifier(value: str) -> str:
    value = value.strip()
    if not _ID_RE.match(value):
        raise ValueError(
            "must be 1-64 letters, digits or . _ @ : - (starting with a letter or digit)"
        )
    return value


def clean_name(value: str) -> str:
    """A person's first or last name: one line, no control characters."""
    return clean_line(value, max_length=MAX_NAME)


def clean_line(value: str, *, max_length: int = MAX_LINE) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    if has_control_characters(value):
        raise ValueError("must be one line without control characters")
    return value


def clean_email(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_EMAIL:
        raise ValueError(f"must be at most {MAX_EMAIL} characters")
    if value.count("@") != 1 or not _EMAIL_RE.match(value):
        raise ValueError("is not a valid email address (like name@example.edu)")
    local = value.split("@", 1)[0]
    if len(local) > 64:
        raise ValueError("has a part before @ longer than 64 characters")
    return value


def clean_list_name(value: str) -> str:
    value = clean_line(value, max_length=MAX_NAME)
    if ";" in value:
        raise ValueError("must not contain ';' (it separates lists)")
    return value


def clean_lists(values: list[str]) -> list[str]:
    """Trimmed, without duplicates, in the order given."""
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(clean_list_name(value), None)
    if len(seen) > 50:
        raise ValueError("at most 50 lists per student")
    return list(seen)


def split_semicolons(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def blank_to_none(value: object) -> object:
    """Optional text: surrounding spaces dropped, and an empty field means "not given"."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def clean_optional_line(value: str | None, *, max_length: int = MAX_LINE) -> str | None:
    if value is None:
        return None
    return clean_line(value, max_length=max_length)


def clean_multiline(value: str | None, *, max_length: int) -> str | None:
    if value is None:
        return None
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    if has_control_characters(value.replace("\r\n", "\n"), allow_newlines=True):
        raise ValueError("must not contain control characters")
    return value
