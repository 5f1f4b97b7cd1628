"""The one template environment: Jinja2's sandbox made to print what Twig prints.

Staff write email texts in Twig style. We render them with a subclass of Jinja2's
``ImmutableSandboxedEnvironment`` and make it behave like Twig 3 (Debian's
php-twig is the reference: tests/integration/notify_service/test_twig_differential.py
renders a corpus with both and compares):

- Twig's lexer rules: one newline after a block tag or comment is dropped, the
  template's trailing newline is kept; ``{% elseif %}`` works.
- Twig's printing: ``null`` and ``false`` print nothing, ``true`` prints ``1``,
  ``3.0`` prints ``3``; a missing variable or attribute prints nothing.
- Twig's truthiness in ``if``/``not`` (``'0'`` is false) and ``for`` over a
  mapping (values, or ``key, value`` pairs).
- Twig's filters with Twig's semantics (``date`` with PHP formats and timezone
  conversion, ``default``, ``nl2br``, ``escape`` with ``&#039;``, ``round``
  half away from zero, ``replace`` with a mapping, …). Only these filters
  exist: a Jinja-only filter, test or syntax is refused when the template is
  saved, with its line.

Security: templates only ever see plain data. Attribute access resolves keys of
mappings, items of lists and a loop's documented fields; anything else (Python
attributes, methods, ``__class__`` …) is undefined and prints nothing. Jinja's
globals (``cycler``, ``joiner``, ``lipsum``, ``namespace``, ``dict``) are gone.

Deliberate differences are listed in services/notify_service/TWIG_DIFFERENCES.md.
``compile_template`` is the save-time check; it names the line of an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache, total_ordering
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import markupsafe
from jinja2 import (
    ChainableUndefined,
    TemplateSyntaxError,
    Undefined,
    nodes,
    pass_context,
    pass_eval_context,
)
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from jinja2.nodes import EvalContext
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEMPLATE_CHARS = 100_000
MAX_OUTPUT_CHARS = 500_000
MAX_RANGE = 10_000


class TemplateProblem(ValueError):
    """A template that does not compile or render; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None, field: str | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message = message
        self.line = line
        # Which template failed, when the caller rendered several (e.g. "email_text").
        self.field = field


# ------------------------------------------------------------------ values
@total_ordering
class TemplateDate:
    """A date that prints as YYYY-MM-DD and works with the ``date`` filter.

    In Twig it is that string, so it compares equal to it.
    """

    def __init__(self, value: date) -> None:
        self.value = value

    def __str__(self) -> str:
        return self.value.isoformat()

    def __html__(self) -> str:
        return self.value.isoformat()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TemplateDate):
            return self.value == other.value
        return str(self) == other

    def __lt__(self, other: object) -> bool:
        return str(self) < str(other)

    def __hash__(self) -> int:
        return hash(str(self))


class _TwigUndefined(ChainableUndefined):
    """Twig (non-strict) prints nothing for a missing variable or attribute, at any depth."""

    __slots__ = ()


def _php_float(value: float) -> str:
    """A float as PHP's ``echo`` prints it (precision 14)."""
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.14G}"
    if "E" in text:
        mantissa, _, exponent = text.partition("E")
        if "." not in mantissa:
            mantissa += ".0"
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}E{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    return text


def _to_text(value: Any) -> str:
    """What Twig prints for a value."""
    if value is None or isinstance(value, Undefined) or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float):
        return _php_float(value)
    if isinstance(value, str | int | TemplateDate):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    # Twig prints "Array" (with a warning) for a list or mapping; we print nothing
    # rather than any Python representation.
    return ""


def _twig_escape(value: Any) -> markupsafe.Markup:
    """htmlspecialchars(ENT_QUOTES | ENT_SUBSTITUTE), as Twig's 'html' strategy."""
    if hasattr(value, "__html__"):
        return markupsafe.Markup(value.__html__())
    text = _to_text(value)
    return markupsafe.Markup(
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#039;")
    )


def _finalize_text(value: Any) -> str:
    if isinstance(value, markupsafe.Markup):
        return str(value)
    return _to_text(value)


def _finalize_html(value: Any) -> markupsafe.Markup:
    return _twig_escape(value)


def _truthy(value: Any) -> bool:
    """PHP's truthiness: '0' is false too."""
    if isinstance(value, Undefined) or value is None:
        return False
    if isinstance(value, str) and value == "0":
        return False
    if isinstance(value, TemplateDate):
        return True
    return bool(value)


def _empty(value: Any) -> bool:
    """Twig's ``empty`` test: null, false, '', [] (and an empty mapping); 0 is not empty."""
    if isinstance(value, Undefined) or value is None or value is False:
        return True
    if isinstance(value, str):
        return value == ""
    if isinstance(value, Sequence | Mapping):
        return len(value) == 0
    return False


# ------------------------------------------------------------------ dates (PHP formats)
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
DEFAULT_TIMEZONE: tzinfo = UTC  # Twig's default timezone (PHP's date.timezone, UTC here)


def _zone(name: Any) -> tzinfo:
    if isinstance(name, tzinfo):
        return name
    if name is None or isinstance(name, Undefined) or name is False:
        return DEFAULT_TIMEZONE
    text = str(name)
    if text.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TemplateProblem(f"unknown timezone {text!r}") from exc


def _to_datetime(value: Any, tz: tzinfo) -> datetime:
    """Twig's date conversion: anything becomes a moment shown in ``tz``."""
    if value is None or isinstance(value, Undefined) or value == "now":
        return datetime.now(UTC).astimezone(tz)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=DEFAULT_TIMEZONE)
        return aware.astimezone(tz)
    if isinstance(value, TemplateDate):
        value = value.value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=DEFAULT_TIMEZONE).astimezone(tz)
    if isinstance(value, bool):
        raise TemplateProblem("the date filter needs a date")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(int(value), UTC).astimezone(tz)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return datetime.fromtimestamp(int(text), UTC).astimezone(tz)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TemplateProblem(f"the date filter cannot read {text!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=DEFAULT_TIMEZONE)
    return parsed.astimezone(tz)


def _hour12(d: datetime) -> int:
    return d.hour % 12 or 12


def _offset(d: datetime, colon: bool) -> str:
    off = d.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h:02d}:{m:02d}" if colon else f"{sign}{h:02d}{m:02d}"


def _tz_abbrev(d: datetime) -> str:
    if d.tzinfo is UTC:
        return "UTC"
    name = d.tzname() or "UTC"
    return name if re.fullmatch(r"[A-Za-z]+", name) else _offset(d, True)[:3]


def _tz_id(d: datetime) -> str:
    if d.tzinfo is UTC:
        return "UTC"
    return str(getattr(d.tzinfo, "key", None) or _offset(d, True))


def _days_in_month(d: datetime) -> int:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _suffix(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


_PHP_DATE_CODES: dict[str, Any] = {
    "d": lambda d: f"{d.day:02d}",
    "D": lambda d: _DAYS[d.weekday()][:3],
    "j": lambda d: str(d.day),
    "l": lambda d: _DAYS[d.weekday()],
    "N": lambda d: str(d.isoweekday()),
    "S": lambda d: _suffix(d.day),
    "w": lambda d: str(d.isoweekday() % 7),
    "z": lambda d: str(d.timetuple().tm_yday - 1),
    "W": lambda d: f"{d.isocalendar()[1]:02d}",
    "o": lambda d: str(d.isocalendar()[0]),
    "F": lambda d: _MONTHS[d.month - 1],
    "m": lambda d: f"{d.month:02d}",
    "M": lambda d: _MONTHS[d.month - 1][:3],
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
    "u": lambda d: f"{d.microsecond:06d}",
    "v": lambda d: f"{d.microsecond // 1000:03d}",
    "e": _tz_id,
    "I": lambda d: "1" if (d.dst() or timedelta(0)) != timedelta(0) else "0",
    "O": lambda d: _offset(d, False),
    "P": lambda d: _offset(d, True),
    "p": lambda d: "Z" if (d.utcoffset() or timedelta(0)) == timedelta(0) else _offset(d, True),
    "T": _tz_abbrev,
    "Z": lambda d: str(int((d.utcoffset() or timedelta(0)).total_seconds())),
    "c": lambda d: d.strftime("%Y-%m-%dT%H:%M:%S") + _offset(d, True),
    "r": lambda d: (
        f"{_DAYS[d.weekday()][:3]}, {d.day:02d} {_MONTHS[d.month - 1][:3]} {d.year} "
        f"{d:%H:%M:%S} {_offset(d, False)}"
    ),
    "U": lambda d: str(int(d.timestamp())),
}


def php_date(when: datetime, fmt: str) -> str:
    out = []
    escape = False
    for ch in fmt:
        if escape:
            out.append(ch)
            escape = False
        elif ch == "\\":
            escape = True
        else:
            out.append(_PHP_DATE_CODES[ch](when) if ch in _PHP_DATE_CODES else ch)
    return "".join(out)


def _f_date(value: Any, fmt: Any = None, timezone: Any = None) -> str:
    tz = _zone(timezone)
    when = _to_datetime(value, tz)
    return php_date(when, "F j, Y H:i" if fmt is None or isinstance(fmt, Undefined) else str(fmt))


# ------------------------------------------------------------------ filters
def _s(value: Any) -> str:
    if isinstance(value, markupsafe.Markup):
        return str(value)
    return _to_text(value)


def _f_upper(value: Any) -> str:
    return _s(value).upper()


def _f_lower(value: Any) -> str:
    return _s(value).lower()


def _f_capitalize(value: Any) -> str:
    text = _s(value)
    return text[:1].upper() + text[1:].lower()


def _f_title(value: Any) -> str:
    # mb_convert_case(MB_CASE_TITLE): a letter after a non-letter starts a word.
    return re.sub(
        r"[^\W\d_]+(?:['’][^\W\d_]+)?",
        lambda m: m.group(0)[:1].upper() + m.group(0)[1:].lower(),
        _s(value),
    )


def _f_default(value: Any, default: Any = "") -> Any:
    return default if _empty(value) else value


@pass_eval_context
def _f_nl2br(eval_ctx: EvalContext, value: Any) -> Any:
    # Twig pre-escapes the input only when autoescaping (pre_escape: 'html').
    if eval_ctx.autoescape:
        escaped = str(_twig_escape(value))
        return markupsafe.Markup(re.sub(r"(\r\n|\n|\r)", r"<br />\1", escaped))
    return re.sub(r"(\r\n|\n|\r)", r"<br />\1", _s(value))


def _f_escape(value: Any, strategy: Any = "html", *_: Any) -> markupsafe.Markup:
    strategy = "html" if strategy is None or isinstance(strategy, Undefined) else str(strategy)
    if strategy == "html":
        return _twig_escape(value)
    if strategy == "url":
        return markupsafe.Markup(quote(_s(value), safe="-_.~"))
    raise TemplateProblem(f"escape strategy {strategy!r} is not supported (use 'html' or 'url')")


def _f_raw(value: Any) -> markupsafe.Markup:
    if hasattr(value, "__html__"):
        return markupsafe.Markup(value.__html__())
    return markupsafe.Markup(_to_text(value))


def _f_length(value: Any) -> int:
    if value is None or isinstance(value, Undefined):
        return 0
    if isinstance(value, Sequence | Mapping) and not isinstance(value, str):
        return len(value)
    return len(_s(value))


def _values(value: Any) -> list[Any]:
    if value is None or isinstance(value, Undefined):
        return []
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    return [value]


def _f_join(value: Any, glue: Any = "", and_: Any = None) -> str:
    items = [_s(v) for v in _values(value)]
    glue = _s(glue)
    if and_ is not None and not isinstance(and_, Undefined) and len(items) > 1:
        return glue.join(items[:-1]) + _s(and_) + items[-1]
    return glue.join(items)


_PHP_TRIM = " \t\n\r\0\x0b"


def _f_trim(value: Any, chars: Any = None, side: Any = "both") -> str:
    text = _s(value)
    strip = _PHP_TRIM if chars is None or isinstance(chars, Undefined) else _s(chars)
    if side == "left":
        return text.lstrip(strip)
    if side == "right":
        return text.rstrip(strip)
    if side != "both":
        raise TemplateProblem("trim: side must be 'left', 'right' or 'both'")
    return text.strip(strip)


def _f_first(value: Any) -> Any:
    if isinstance(value, str):
        return value[:1]
    items = _values(value)
    return items[0] if items else None


def _f_last(value: Any) -> Any:
    if isinstance(value, str):
        return value[-1:]
    items = _values(value)
    return items[-1] if items else None


def _number(value: Any) -> Decimal:
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int | float):
        return Decimal(str(value))
    try:
        return Decimal(_s(value).strip() or "0")
    except InvalidOperation:
        return Decimal(0)


def _as_number(d: Decimal) -> int | float:
    return int(d) if d == d.to_integral_value() and abs(d) < 10**15 else float(d)


def _f_abs(value: Any) -> int | float:
    return _as_number(abs(_number(value)))


def _f_round(value: Any, precision: Any = 0, method: Any = "common") -> float:
    modes = {"common": ROUND_HALF_UP, "ceil": ROUND_CEILING, "floor": ROUND_FLOOR}
    if method not in modes:
        raise TemplateProblem("round: method must be 'common', 'ceil' or 'floor'")
    exp = Decimal(1).scaleb(-int(precision))
    # Twig's round returns a float; printing shows 3 for 3.0.
    return float(_number(value).quantize(exp, rounding=modes[method]))


def _f_number_format(
    value: Any, decimals: Any = 0, dec_point: Any = ".", thousands_sep: Any = ","
) -> str:
    number = _number(value).quantize(Decimal(1).scaleb(-int(decimals)), rounding=ROUND_HALF_UP)
    sign = "-" if number < 0 else ""
    whole, _, frac = f"{abs(number):f}".partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    text = _s(thousands_sep).join(groups)
    if int(decimals) > 0:
        text += _s(dec_point) + frac.ljust(int(decimals), "0")
    return sign + text


def _f_striptags(value: Any) -> str:
    text = re.sub(r"<!--.*?-->", "", _s(value), flags=re.S)
    return re.sub(r"<[^>]*>?", "", text)


def _f_replace(value: Any, pairs: Any = None) -> str:
    """PHP's strtr with a mapping: longest key first, replaced text is not re-scanned."""
    if not isinstance(pairs, Mapping):
        raise TemplateProblem("replace takes a mapping, e.g. replace({'%name%': name})")
    table = {_s(k): _s(v) for k, v in pairs.items() if _s(k)}
    if not table:
        return _s(value)
    pattern = re.compile("|".join(re.escape(k) for k in sorted(table, key=len, reverse=True)))
    return pattern.sub(lambda m: table[m.group(0)], _s(value))


def _f_url_encode(value: Any) -> str:
    if isinstance(value, Mapping):
        return "&".join(
            f"{quote(_s(k), safe='-_.~')}={quote(_s(v), safe='-_.~')}" for k, v in value.items()
        )
    return quote(_s(value), safe="-_.~")


def _f_format(value: Any, *args: Any) -> str:
    converted = tuple(
        a if isinstance(a, int | float) and not isinstance(a, bool) else _s(a) for a in args
    )
    try:
        return _s(value) % converted
    except (TypeError, ValueError) as exc:
        raise TemplateProblem(f"format: {exc}") from exc


def _f_twig_bool(value: Any) -> bool:
    return _truthy(value)


def _f_twig_iter(value: Any, pairs: bool = False) -> Iterator[Any]:
    if value is None or isinstance(value, Undefined):
        return iter(())
    if isinstance(value, Mapping):
        return iter(list(value.items()) if pairs else list(value.values()))
    if isinstance(value, str | int | float | bool):
        return iter(())  # Twig loops over nothing for a scalar
    items = list(value)
    return iter(list(enumerate(items)) if pairs else items)


def _g_range(low: Any, high: Any, step: Any = 1) -> list[Any]:
    """Twig's range(): both ends included; letters work too."""
    step = abs(int(step)) or 1
    if isinstance(low, str) and isinstance(high, str) and len(low) == 1 == len(high):
        a, b = ord(low), ord(high)
        direction = step if b >= a else -step
        return [chr(c) for c in range(a, b + (1 if direction > 0 else -1), direction)][:MAX_RANGE]
    a, b = int(_number(low)), int(_number(high))
    direction = step if b >= a else -step
    if abs(b - a) // step > MAX_RANGE:
        raise TemplateProblem(f"range: more than {MAX_RANGE} items")
    return list(range(a, b + (1 if direction > 0 else -1), direction))


def _g_max(*values: Any) -> Any:
    items = _values(values[0]) if len(values) == 1 else list(values)
    return max(items) if items else None


def _g_min(*values: Any) -> Any:
    items = _values(values[0]) if len(values) == 1 else list(values)
    return min(items) if items else None


_FILTERS: dict[str, Any] = {
    "upper": _f_upper,
    "lower": _f_lower,
    "capitalize": _f_capitalize,
    "title": _f_title,
    "default": _f_default,
    "nl2br": _f_nl2br,
    "escape": _f_escape,
    "e": _f_escape,
    "raw": _f_raw,
    "length": _f_length,
    "join": _f_join,
    "trim": _f_trim,
    "date": _f_date,
    "first": _f_first,
    "last": _f_last,
    "abs": _f_abs,
    "round": _f_round,
    "number_format": _f_number_format,
    "striptags": _f_striptags,
    "replace": _f_replace,
    "url_encode": _f_url_encode,
    "format": _f_format,
}


@pass_context
def _f_twig_str(_context: Any, value: Any) -> str:
    return str(_s(value))


@pass_context
def _f_twig_out(_context: Any, value: Any) -> Any:
    return value


@pass_context
def _f_twig_literal(_context: Any, value: Any) -> markupsafe.Markup:
    return markupsafe.Markup(_to_text(value))


# Internal: inserted by the parser hook, not for template authors.
_INTERNAL_FILTERS = {
    "twig_bool__": _f_twig_bool,
    "twig_iter__": _f_twig_iter,
    "twig_out__": _f_twig_out,
    "twig_str__": _f_twig_str,
    "twig_literal__": _f_twig_literal,
}

_TESTS: dict[str, Any] = {
    "defined": lambda v: not isinstance(v, Undefined),
    "empty": _empty,
    "null": lambda v: v is None or isinstance(v, Undefined),
    "none": lambda v: v is None or isinstance(v, Undefined),
    "even": lambda v: int(_number(v)) % 2 == 0,
    "odd": lambda v: int(_number(v)) % 2 == 1,
    "iterable": lambda v: isinstance(v, Sequence | Mapping) and not isinstance(v, str),
    "divisibleby": lambda v, n: int(_number(v)) % int(_number(n)) == 0,
}

_LOOP_FIELDS = frozenset({"index", "index0", "revindex", "revindex0", "first", "last", "length"})


# ------------------------------------------------------------------ the environment
class _TwigSyntax(Extension):
    """Token-level Twig syntax: ``{% elseif %}`` is Jinja's ``{% elif %}``."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        previous: Token | None = None
        for token in stream:
            if (
                token.type == "name"
                and token.value == "elseif"
                and previous is not None
                and previous.type == "block_begin"
            ):
                token = Token(token.lineno, "name", "elif")
            previous = token
            yield token


class TwigEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        # Twig's truthiness where Jinja would use Python's.
        for node in tree.find_all(nodes.If):
            node.test = _wrap(node.test, "twig_bool__")
        for not_node in tree.find_all(nodes.Not):
            not_node.node = _wrap(not_node.node, "twig_bool__")
        for loop in tree.find_all(nodes.For):
            pairs = isinstance(loop.target, nodes.Tuple) and len(loop.target.items) == 2
            loop.iter = _wrap(loop.iter, "twig_iter__", nodes.Const(pairs))
        # Twig's string conversion in concatenation (null → '', true → '1').
        for concat in tree.find_all(nodes.Concat):
            concat.nodes = [_wrap(child, "twig_str__") for child in concat.nodes]
        # Printed expressions are evaluated at render time (Jinja would fold constants
        # at compile time and escape before finalize); a bare literal is safe, as in Twig.
        for output in tree.find_all(nodes.Output):
            output.nodes = [
                child
                if isinstance(child, nodes.TemplateData)
                else _wrap(
                    child, "twig_literal__" if isinstance(child, nodes.Const) else "twig_out__"
                )
                for child in output.nodes
            ]
        tree.set_environment(self)
        return tree

    # Templates see data only: mapping keys, list items and a loop's fields.
    def getattr(self, obj: Any, attribute: str) -> Any:
        return self._lookup(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._lookup(obj, argument)

    def _lookup(self, obj: Any, key: Any) -> Any:
        if isinstance(obj, Mapping):
            if key in obj:
                return obj[key]
        elif isinstance(obj, list | tuple) and not isinstance(obj, str):
            try:
                index = int(key)
            except (TypeError, ValueError):
                index = None
            if index is not None and -len(obj) <= index < len(obj):
                return obj[index]
        elif isinstance(obj, LoopContext) and key in _LOOP_FIELDS:
            return getattr(obj, key)
        return self.undefined(obj=obj, name=key)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right)):
            raise SecurityError(f"'{operator}' works on numbers only")
        if operator == "**" and abs(right) > 100:
            raise SecurityError("exponent too large")
        return super().call_binop(context, operator, left, right)

    def is_safe_callable(self, obj: Any) -> bool:
        # Only our own functions (range, min, max); no Python methods.
        return obj in (_g_range, _g_max, _g_min)


def _wrap(node: nodes.Node, filter_name: str, *args: nodes.Expr) -> nodes.Filter:
    return nodes.Filter(node, filter_name, list(args), [], None, None, lineno=node.lineno)


def _make_env(autoescape: bool) -> TwigEnvironment:
    env = TwigEnvironment(
        autoescape=autoescape,
        undefined=_TwigUndefined,
        finalize=_finalize_html if autoescape else _finalize_text,
        # Twig drops the first newline after a block tag or comment, keeps the last one.
        trim_blocks=True,
        lstrip_blocks=False,
        keep_trailing_newline=True,
        extensions=[_TwigSyntax],
        cache_size=0,
    )
    env.filters.clear()
    env.filters.update(_FILTERS)
    env.filters.update(_INTERNAL_FILTERS)
    env.tests.clear()
    env.tests.update(_TESTS)
    env.globals.clear()
    env.globals.update({"range": _g_range, "max": _g_max, "min": _g_min})
    return env


_TEXT_ENV = _make_env(autoescape=False)
_HTML_ENV = _make_env(autoescape=True)


def compile_template(source: str) -> None:
    """Raise TemplateProblem (with the line) when the template does not compile.

    Besides Jinja's syntax errors, Jinja-only features are refused so what is
    saved prints the same in Twig: unknown filters and tests, inline
    ``x if y else z``, and loop filters ``{% for x in y if z %}``.
    """
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateProblem(f"the template is longer than {MAX_TEMPLATE_CHARS} characters")
    parsed = _parse(source)
    for node in parsed.find_all(nodes.Filter):
        if node.name not in _FILTERS and node.name not in _INTERNAL_FILTERS:
            raise TemplateProblem(f"unknown filter '{node.name}'", node.lineno)
    for test in parsed.find_all(nodes.Test):
        if test.name not in _TESTS:
            raise TemplateProblem(f"unknown test '{test.name}'", test.lineno)
    for cond in parsed.find_all(nodes.CondExpr):
        raise TemplateProblem("'x if y else z' is not Twig; use {% if %}", cond.lineno)
    for load in parsed.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        raise TemplateProblem("templates cannot include or extend other templates", load.lineno)
    for loop in parsed.find_all(nodes.For):
        if loop.test is not None:
            raise TemplateProblem("'for … if …' is not Twig; put an {% if %} inside", loop.lineno)
    _compiled(source)


def _parse(source: str) -> nodes.Template:
    try:
        return _TEXT_ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno) from exc


@lru_cache(maxsize=512)
def _compiled(source: str) -> tuple[Any, Any]:
    """Both compiled forms of a template, cached: the scheduler renders the same few
    templates for thousands of invitees."""
    try:
        return _TEXT_ENV.from_string(source), _HTML_ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno) from exc


@dataclass(frozen=True)
class Rendered:
    text: str
    html: str


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render as plain text (no escaping)."""
    return _render(source, context, html=False)


def render_html(source: str, context: Mapping[str, Any]) -> str:
    """Render with Twig's HTML autoescaping (``&#039;`` for quotes, like htmlspecialchars)."""
    return _render(source, context, html=True)


def render_both(source: str, context: Mapping[str, Any]) -> Rendered:
    return Rendered(render(source, context), render_html(source, context))


def _render(source: str, context: Mapping[str, Any], *, html: bool) -> str:
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateProblem(f"the template is longer than {MAX_TEMPLATE_CHARS} characters")
    text_template, html_template = _compiled(source)
    template = html_template if html else text_template
    try:
        out = template.render(**context)
    except TemplateProblem:
        raise
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno) from exc
    except SecurityError as exc:
        raise TemplateProblem(f"not allowed: {exc}") from exc
    except (UndefinedError, TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateProblem(str(exc)) from exc
    except RecursionError as exc:
        raise TemplateProblem("the template nests too deeply") from exc
    if len(out) > MAX_OUTPUT_CHARS:
        raise TemplateProblem("the rendered text is too long")
    return str(out)


# ------------------------------------------------------------ the HTML part of an email
_URL = re.compile(r"https?://[^\s<>\"']+")


def text_to_html(text: str) -> str:
    """The HTML body (a fragment) of an email whose templates are text.

    The templates are text, so the whole rendered text is escaped (neither a
    student's name nor the template's own ``<`` or ``&`` can become markup),
    lines become ``<br />`` and bare URLs become links. The notify service sends
    exactly this (wrapped in a minimal document); a preview should show it too.
    """
    escaped = str(markupsafe.escape(text)).replace("&#39;", "'").replace("&#34;", '"')
    lines = escaped.replace("\r\n", "\n").replace("\n", "<br />\n")
    return _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', lines)


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


# ------------------------------------------------------------ the invite email itself
@dataclass(frozen=True)
class InviteEmail:
    subject: str
    text: str
    html: str  # a fragment: the sender wraps it in a document


def compose_invite_email(
    invite: Any, invitee: Any, *, kind: str = "instructions", center_name: str = ""
) -> InviteEmail:
    """The instruction or reminder email for one invitee, as sent and as previewed.

    The widget's instructions are rendered first and offered to ``email_text`` as
    ``instructions``; an email whose text lacks the personal link gets it
    appended; a reminder appends the reminder text. Raises ``TemplateProblem``
    with ``field`` naming the template that failed: nothing half-rendered.
    """
    base = invite_email_context(invite, invitee, center_name=center_name)
    instructions = _render_field("invitation_instructions", invite.instructions_template, base)
    ctx = {**base, "instructions": instructions}
    text = _render_field("email_text", invite.email_text, ctx)
    subject = _render_field("invitation_subject", invite.subject_template or DEFAULT_SUBJECT, base)
    if invitee.link not in text:
        # The personal link is what the email is for: never send one without it.
        text = f"{text.rstrip()}\n\nBook your appointment here: {invitee.link}\n"
    if kind == "reminder":
        reminder = _render_field("reminder_text", invite.reminder_text, ctx)
        if reminder.strip():
            text = f"{text.rstrip()}\n\n{reminder}"
        subject = f"Reminder: {subject}"
    subject = " ".join(subject.split())  # one header line, whatever the template did
    return InviteEmail(subject=subject, text=text, html=text_to_html(text))


def _render_field(field: str, source: str, context: Mapping[str, Any]) -> str:
    try:
        return render(source, context) if source else ""
    except TemplateProblem as exc:
        exc.field = field
        raise
