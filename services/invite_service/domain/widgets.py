"""Widgets' invite settings: the allowed ask fields, type lists and template checks."""

from __future__ import annotations

from shared.templates import TemplateProblem, compile_template

from .fields import clean_line, split_semicolons

ASK_FIELDS: tuple[str, ...] = (
    "type",
    "section",
    "reason",
    "duration",
    "exam_code",
    "exam_file",
    "exam_passcode",
    "notes",
    "group",
    "one_on_one",
    "online",
)
MODALITY_ASK_FIELDS: tuple[str, ...] = ("group", "one_on_one", "online")
# A new widget asks for everything but the modalities, which then keep their defaults.
DEFAULT_ASK_FIELDS: list[str] = [f for f in ASK_FIELDS if f not in MODALITY_ASK_FIELDS]
DEFAULT_INSTRUCTIONS = (
    "Hello {{ student.first_name }},\n\n"
    "please book your {{ invite.type|default('appointment') }} by {{ invite.due_date }}:\n"
    "{{ link }}\n"
)
TEMPLATE_FIELDS: tuple[str, ...] = (
    "invitation_subject",
    "invitation_instructions",
    "reminder_text",
)
MAX_TYPES = 50


def normalize_types(value: str | list[str]) -> list[str]:
    """``"Exam; Pop Quiz;Exam"`` or a list → trimmed, de-duplicated, in order."""
    if not isinstance(value, str | list):
        # A BeforeValidator sees raw input: anything else is the caller's mistake (422).
        raise ValueError("types are a ';'-separated text or a list of texts")
    parts = split_semicolons(value) if isinstance(value, str) else value
    seen: dict[str, None] = {}
    for part in parts:
        if not isinstance(part, str):
            raise ValueError("each type must be text")
        cleaned = part.strip()
        if not cleaned:
            continue
        if ";" in cleaned:
            raise ValueError("a type must not contain ';' (it separates types)")
        cleaned = clean_line(cleaned, max_length=100)
        # Case-insensitive de-duplication: "Exam" and "exam" would confuse everyone.
        if cleaned.casefold() not in {s.casefold() for s in seen}:
            seen[cleaned] = None
    if len(seen) > MAX_TYPES:
        raise ValueError(f"at most {MAX_TYPES} types")
    return list(seen)


def normalize_ask_fields(values: list[str]) -> list[str]:
    unknown = [v for v in values if v not in ASK_FIELDS]
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(ASK_FIELDS)}"
        )
    return [f for f in ASK_FIELDS if f in set(values)]


def template_error(field: str, source: str) -> dict[str, object] | None:
    """The 422 entry for a template that does not compile, naming the field and line."""
    try:
        compile_template(source)
    except TemplateProblem as exc:
        return problem_entry(field, exc)
    return None


def problem_entry(field: str, exc: TemplateProblem) -> dict[str, object]:
    where = f"line {exc.line}: " if exc.line is not None else ""
    entry: dict[str, object] = {"field": field, "message": f"{where}{exc.message}"}
    if exc.line is not None:
        entry["line"] = exc.line
    return entry
