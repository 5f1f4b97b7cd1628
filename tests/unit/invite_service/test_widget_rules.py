"""Widget settings: type lists, ask fields, templates checked on save."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.invite_service.domain.widgets import (
    normalize_ask_fields,
    normalize_types,
    template_error,
)
from services.invite_service.models import WidgetIn, WidgetPatch


def test_types_from_semicolon_text_or_list_trimmed_and_deduplicated():
    assert normalize_types("Exam; Pop Quiz ;Exam;;") == ["Exam", "Pop Quiz"]
    assert normalize_types([" Exam", "exam", "Quiz"]) == ["Exam", "Quiz"]
    assert normalize_types("") == []
    with pytest.raises(ValueError):
        normalize_types(["A;B"])


def test_ask_fields_known_only_in_canonical_order():
    assert normalize_ask_fields(["online", "type", "type"]) == ["type", "online"]
    with pytest.raises(ValueError, match="passcode"):
        normalize_ask_fields(["passcode"])


def test_template_error_names_field_and_line():
    assert template_error("reminder_text", "Hi {{ student.first_name }}") is None
    error = template_error("invitation_instructions", "line one\nline two {{ oops \n")
    assert error is not None
    assert error["field"] == "invitation_instructions"
    assert error["line"] == 2
    assert "line 2" in str(error["message"])
    unknown_filter = template_error("reminder_text", "a\nb\n{{ x|shout }}")
    assert unknown_filter is not None and unknown_filter["line"] == 3


def test_widget_body_checks():
    body = WidgetIn.model_validate({"name": "W", "invitation_types": "A;B;A"})
    assert body.invitation_types == ["A", "B"]
    for bad in [
        {"name": ""},
        {"name": "W", "ask_fields": ["nope"]},
        {"name": "W", "send_instructions_days": -1},
        {"name": "W", "reminder_every_days": 0},
        {"name": "W", "is_invitation": "yes"},
        {"name": "W", "invitation_subject": "two\nlines"},
        {"name": "W", "color": "red"},
    ]:
        with pytest.raises(ValidationError):
            WidgetIn.model_validate(bad)
    patch = WidgetPatch.model_validate({"reminder_every_days": None})
    assert patch.model_fields_set == {"reminder_every_days"}
