"""An invite checked against its widget, the date and its students (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from services.invite_service.domain.invites import (
    check_invite,
    check_student_ids,
    due_date_passed,
    local_today,
    resolve_modalities,
)
from services.invite_service.models import InviteIn, ModalitiesIn
from shared.events import Modalities, WidgetData

TODAY = date(2025, 3, 10)
ALL_BUT_MODALITIES = [
    "type",
    "section",
    "reason",
    "duration",
    "exam_code",
    "exam_file",
    "exam_passcode",
    "notes",
]


def widget(**changes) -> WidgetData:
    values = {
        "widget_id": "w1",
        "name": "W",
        "center_ids": ["c1"],
        "invitation_types": ["Exam", "Pop Quiz"],
        "ask_fields": ALL_BUT_MODALITIES,
        "invitation_instructions": "Hi",
    }
    values.update(changes)
    return WidgetData(**values)


def body(**fields) -> InviteIn:
    values = {"widget_id": "w1", "student_ids": ["s1"], "due_date": "2025-03-20"}
    values.update(fields)
    return InviteIn.model_validate(values)


def fields_of(errors) -> set[str]:
    return {e["field"] for e in errors}


def test_a_complete_valid_invite_has_no_errors():
    modalities, errors = check_invite(
        body(type="Exam", section_id="S1", reason_id="r", duration_minutes=90, notes="n"),
        widget(),
        today=TODAY,
    )
    assert errors == []
    assert modalities == Modalities()


def test_fields_the_widget_does_not_ask_for_are_named():
    w = widget(ask_fields=["type"])
    _, errors = check_invite(
        body(type="Exam", section_id="S1", duration_minutes=60, exam_passcode="x"), w, today=TODAY
    )
    assert fields_of(errors) == {"section_id", "duration_minutes", "exam_passcode"}
    assert all("does not ask" in e["message"] for e in errors)


def test_type_must_be_one_of_the_widgets_types():
    _, errors = check_invite(body(type="Essay"), widget(), today=TODAY)
    assert fields_of(errors) == {"type"}
    assert "Exam, Pop Quiz" in errors[0]["message"]
    # Exact match: types are picked from the widget's list.
    _, errors = check_invite(body(type="exam"), widget(), today=TODAY)
    assert fields_of(errors) == {"type"}


def test_widget_must_be_an_invitation_widget():
    _, errors = check_invite(body(), widget(is_invitation=False), today=TODAY)
    assert fields_of(errors) == {"widget_id"}


@pytest.mark.parametrize(
    "minutes,ok", [(4, False), (5, True), (90, True), (600, True), (601, False)]
)
def test_duration_within_bounds(minutes, ok):
    _, errors = check_invite(body(duration_minutes=minutes), widget(), today=TODAY)
    assert (errors == []) is ok


def test_duration_must_be_whole_minutes():
    for bad in [60.5, "60", True, 60.0]:
        with pytest.raises(ValidationError) as exc:
            body(duration_minutes=bad)
        assert "duration_minutes" in str(exc.value)


def test_due_date_not_in_the_past_nor_years_ahead():
    assert check_invite(body(due_date="2025-03-10"), widget(), today=TODAY)[1] == []
    _, errors = check_invite(body(due_date="2025-03-09"), widget(), today=TODAY)
    assert fields_of(errors) == {"due_date"} and "past" in errors[0]["message"]
    _, errors = check_invite(body(due_date="2029-01-01"), widget(), today=TODAY)
    assert fields_of(errors) == {"due_date"}


def test_today_is_the_centers_local_date():
    # 03:00 UTC on the 10th is still the 9th in Chicago.
    now = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)
    assert local_today(now, "America/Chicago") == date(2025, 3, 9)
    assert local_today(now, None) == date(2025, 3, 10)
    assert local_today(now, "Not/AZone") == date(2025, 3, 10)
    assert not due_date_passed(date(2025, 3, 9), now, "America/Chicago")
    assert due_date_passed(date(2025, 3, 9), now, "UTC")


def test_email_text_that_does_not_compile_names_the_line():
    _, errors = check_invite(body(email_text="ok\n{% if %}"), widget(), today=TODAY)
    assert fields_of(errors) == {"email_text"}
    assert errors[0]["line"] == 2


def test_modalities_default_to_in_person_one_on_one_and_group():
    assert resolve_modalities(None, []) == (Modalities(), [])
    result, errors = resolve_modalities(ModalitiesIn(), [])
    assert errors == [] and result == Modalities(
        in_person=True, online=False, one_on_one=True, group=True
    )


def test_only_asked_modalities_may_change():
    _, errors = resolve_modalities(ModalitiesIn(online=True), ["group"])
    assert fields_of(errors) == {"modalities.online"}
    _, errors = resolve_modalities(ModalitiesIn(group=False), ["online"])
    assert fields_of(errors) == {"modalities.group"}
    # Restating a default of a field not asked is harmless.
    assert resolve_modalities(ModalitiesIn(group=True, in_person=True), [])[1] == []
    result, errors = resolve_modalities(
        ModalitiesIn(online=True, in_person=False, group=False), ["online", "group"]
    )
    assert errors == []
    assert result == Modalities(in_person=False, online=True, one_on_one=True, group=False)


def test_modalities_that_find_nothing_are_refused():
    _, errors = resolve_modalities(ModalitiesIn(online=False, in_person=False), ["online"])
    assert fields_of(errors) == {"modalities"}
    _, errors = resolve_modalities(
        ModalitiesIn(group=False, one_on_one=False), ["group", "one_on_one"]
    )
    assert fields_of(errors) == {"modalities"}


def test_modalities_are_booleans_only():
    for bad in [{"online": "yes"}, {"group": 1}, {"video": True}]:
        with pytest.raises(ValidationError):
            body(modalities=bad)


def test_student_ids_non_empty_unique_and_bounded():
    assert check_student_ids(["a", "b"]) == []
    assert fields_of(check_student_ids([])) == {"student_ids"}
    errors = check_student_ids(["a", "b", "a"])
    assert errors[0]["ids"] == ["a"]
    assert fields_of(check_student_ids([str(i) for i in range(10_001)])) == {"student_ids"}


def test_unknown_and_blank_body_fields():
    with pytest.raises(ValidationError) as exc:
        body(color="red")
    assert "color" in str(exc.value)
    # An empty text field means "not given".
    assert body(type="  ", notes="").type is None
    with pytest.raises(ValidationError):
        body(due_date="next week")
