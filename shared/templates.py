"""The one template environment: Jinja2's sandbox with Twig-compatible filters.

Staff write email texts in Twig style. We render them with Jinja2's
``ImmutableSandboxedEnvironment`` (no attribute starting with an underscore,
no mutation, no Python internals) and add the Twig filters our templates use.
``compile_template`` is the save-time check; it names the line of an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import markupsafe
from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEMPLATE_CHARS = 100_000
MAX_OUTPUT_CHARS = 500_000


class TemplateProblem(ValueError):
    """A template that does not compile or render; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message = message
        self.line = line


# PHP date() format characters → strftime-like rendering.
def _php_date(value: Any, fmt: str = "F j, Y H:i") -> str:
    when = _to_datetime(value)
    if when is None:
        return ""
    out = []
    escape = False
    for ch in fmt:
        if escape:
            out.append(ch)
            escape = False
            continue
        if ch == "\\":
            escape = True
            continue
        out.append(_PHP_DATE_CODES[ch](when) if ch in _PHP_DATE_CODES else ch)
    return "".join(out)


def _to_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, Undefined):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, TemplateDate):
        return datetime(value.value.year, value.value.month, value.value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _hour12(d: datetime) -> int:
    return d.hour % 12 or 12


_PHP_DATE_CODES = {
    "d": lambda d: f"{d.day:02d}",
    "D": lambda d: d.strftime("%a"),
    "j": lambda d: str(d.day),
    "l": lambda d: d.strftime("%A"),
    "N": lambda d: str(d.isoweekday()),
    "S": lambda d: "th" if 11 <= d.day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d.day % 10, "th"),
    "w": lambda d: str(d.isoweekday() % 7),
    "z": lambda d: str(d.timetuple().tm_yday - 1),
    "W": lambda d: f"{d.isocalendar()[1]:02d}",
    "F": lambda d: d.strftime("%B"),
    "m": lambda d: f"{d.month:02d}",
    "M": lambda d: d.strftime("%b"),
    "n": lambda d: str(d.month),
    "t": lambda d: str(_days_in_month(d)),
    "L": lambda d: "1" if _is_leap(d.year) else "0",
    "Y": lambda d: str(d.year),
    "y": lambda d: f"{d.year % 100:02d}",
    "a": lambda d: "am" if d.hour < 12 else "pm",
    "A": lambda d: "AM" if d.hour < 12 else "PM",
    "g": lambda d: str(_hour12(d)),
    "G": lambda d: str(d.hour),
    "h": lambda d: f"{_hour12(d):02d}",
    "H": lambda d: f"{d.hour:02d}",
    "i": lambda d: f"{d.minute:02d}",
    "s": lambda d: f"{d.second:02d}",
    "T": lambda d: d.tzname() or "UTC",
    "e": lambda d: str(d.tzinfo) if d.tzinfo else "UTC",
    "P": lambda d: _offset(d, True),
    "O": lambda d: _offset(d, False),
    "U": lambda d: str(int(d.timestamp())),
    "c": lambda d: d.isoformat(),
}


def _offset(d: datetime, colon: bool) -> str:
    off = d.utcoffset()
    if off is None:
        return "+00:00" if colon else "+0000"
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h:02d}:{m:02d}" if colon else f"{sign}{h:02d}{m:02d}"


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in_month(d: datetime) -> int:
    if d.month == 2:
        return 29 if _is_leap(d.year) else 28
    return 30 if d.month in (4, 6, 9, 11) else 31


def _default(value: Any, default: Any = "") -> Any:
    # Twig's default: undefined, null and empty values take the default.
    if isinstance(value, Undefined) or value is None or value == "" or value == [] or value == {}:
        return default
    return value


def _nl2br(value: Any) -> markupsafe.Markup:
    escaped = markupsafe.escape(value)
    return markupsafe.Markup(escaped.replace("\r\n", "<br />\r\n").replace("\n", "<br />\n"))


def _capitalize(value: Any) -> str:
    s = str(value)
    return s[:1].upper() + s[1:].lower()


def _join(value: Any, glue: str = "", and_: str | None = None) -> str:
    items = [str(v) for v in value] if value is not None else []
    if and_ is not None and len(items) > 1:
        return glue.join(items[:-1]) + and_ + items[-1]
    return glue.join(items)


class TemplateDate:
    """A date that prints as YYYY-MM-DD and works with the ``date`` filter."""

    def __init__(self, value: date) -> None:
        self.value = value

    def __str__(self) -> str:
        return self.value.isoformat()

    def __html__(self) -> str:
        return self.value.isoformat()


class _TwigUndefined(Undefined):
    """Twig (non-strict) prints nothing for a missing variable or attribute."""


def _make_env(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        autoescape=autoescape,
        undefined=_TwigUndefined,
        keep_trailing_newline=False,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters.update(
        {
            "date": _php_date,
            "default": _default,
            "nl2br": _nl2br,
            "capitalize": _capitalize,
            "join": _join,
            "e": env.filters["escape"],
        }
    )
    return env


_TEXT_ENV = _make_env(autoescape=False)
_HTML_ENV = _make_env(autoescape=True)
_STRICT_CHECK_ENV = _make_env(autoescape=False)
_STRICT_CHECK_ENV.undefined = StrictUndefined


def compile_template(source: str) -> None:
    """Raise TemplateProblem (with the line) when the template does not compile."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateProblem(f"the template is longer than {MAX_TEMPLATE_CHARS} characters")
    try:
        parsed = _TEXT_ENV.parse(source)
        _TEXT_ENV.compile(parsed)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno) from exc
    for node in parsed.find_all(nodes.Filter):
        if node.name not in _TEXT_ENV.filters:
            raise TemplateProblem(f"unknown filter '{node.name}'", node.lineno)


@dataclass(frozen=True)
class Rendered:
    text: str
    html: str


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render as plain text (no escaping)."""
    return _render(_TEXT_ENV, source, context)


def render_html(source: str, context: Mapping[str, Any]) -> str:
    """Render with HTML autoescaping; newlines of the template become <br />."""
    return _render(_HTML_ENV, source, context)


def render_both(source: str, context: Mapping[str, Any]) -> Rendered:
    return Rendered(render(source, context), render_html(source, context))


def _render(env: ImmutableSandboxedEnvironment, source: str, context: Mapping[str, Any]) -> str:
    try:
        out = env.from_string(source).render(**context)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno) from exc
    except SecurityError as exc:
        raise TemplateProblem(f"not allowed: {exc}") from exc
    except (UndefinedError, TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateProblem(str(exc)) from exc
    if len(out) > MAX_OUTPUT_CHARS:
        raise TemplateProblem("the rendered text is too long")
    return out


# ------------------------------------------------------------ the email variables
DEFAULT_SUBJECT = (
    "{{ invite.type|default('Appointment') }} invitation: please book by {{ invite.due_date }}"
)


def invite_email_context(
    invite: Any, invitee: Any, *, center_name: str = "", instructions: str = ""
) -> dict[str, Any]:
    """The variables of API.md for one invitee, from ``InviteCreated``/``InviteeData``.

    Used both for the preview (invite_service) and for sending (notify_service),
    so what staff preview is what students get.
    """
    section = invite.section
    return {
        "student": {
            "first_name": invitee.first_name,
            "last_name": invitee.last_name,
            "email": invitee.email,
            "id": invitee.student_id,
        },
        "invite": {
            "type": invite.type,
            "due_date": TemplateDate(invite.due_date),
            "duration_minutes": invite.duration_minutes,
            "section": (
                {"subject": section.subject, "course": section.course, "section": section.section}
                if section is not None
                else None
            ),
            "reason": invite.reason.name if invite.reason is not None else None,
            "notes": invite.notes,
        },
        "link": invitee.link,
        "instructions": instructions,
        "center": {"name": center_name},
    }
