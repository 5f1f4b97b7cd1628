from datetime import date

from services.gateway.domain.forms import (
    invite_body,
    modality_defaults,
    parse_ids,
    report_query,
    rules_body,
    search_window,
    slots_by_day,
    widget_body,
)


def form(**values):
    return {k: v if isinstance(v, list) else [v] for k, v in values.items()}


def test_parse_ids_keeps_order_and_drops_repeats():
    assert parse_ids("S1,S2, S3", "S2 S4", "") == ["S1", "S2", "S3", "S4"]
    assert parse_ids("") == []


def test_invite_body_sends_exactly_the_asked_fields():
    f = form(
        widget_id="w1",
        due_date="2030-01-10",
        email_text="Hi {{ student.first_name }}\r\n",
        type="Exam",
        section_id="SEC",
        reason_id="",
        duration_minutes="60",
        exam_code="X1",
        notes="n",
        exam_passcode="secret",
        one_on_one="on",
    )
    body, errors = invite_body(
        f, ["type", "section", "reason", "duration", "exam_code", "one_on_one", "group"]
    )
    assert errors == []
    assert body == {
        "widget_id": "w1",
        "due_date": "2030-01-10",
        "email_text": "Hi {{ student.first_name }}\n",
        "type": "Exam",
        "section_id": "SEC",
        "reason_id": None,
        "duration_minutes": 60,
        "exam_code": "X1",
        "modalities": {"one_on_one": True, "group": False, "in_person": True},
    }
    # Not asked: never sent, even when the form carries it.
    assert "exam_passcode" not in body and "notes" not in body


def test_invite_body_without_modality_fields_leaves_the_defaults_to_the_service():
    body, errors = invite_body(form(widget_id="w", due_date="2030-01-10"), [])
    assert errors == [] and "modalities" not in body and "email_text" not in body


def test_invite_body_errors_name_fields():
    _body, errors = invite_body(
        form(widget_id="w", due_date="soon", duration_minutes="abc"), ["duration", "online"]
    )
    assert {e["field"] for e in errors} == {"due_date", "duration_minutes", "modalities"}
    _, errors = invite_body(form(widget_id="w"), [])
    assert errors == [{"field": "due_date", "message": "is required"}]
    _, errors = invite_body(
        form(widget_id="w", due_date="2030-01-01", duration_minutes="0"), ["duration"]
    )
    assert errors[0]["field"] == "duration_minutes"


def test_online_lets_staff_choose_in_person_too():
    body, _ = invite_body(form(widget_id="w", due_date="2030-01-10", online="on"), ["online"])
    assert body["modalities"] == {"online": True, "in_person": False}


def test_modality_defaults():
    assert modality_defaults(None) == {
        "in_person": True,
        "online": False,
        "one_on_one": True,
        "group": True,
    }
    shown = modality_defaults(form(widget_submitted="1", online="on"))
    assert shown == {"in_person": False, "online": True, "one_on_one": False, "group": False}


def test_rules_body_orders_by_position_and_skips_blank_and_removed_rows():
    f = form(
        **{
            "rule-0-position": "2",
            "rule-0-list": "Active",
            "rule-0-type": "Exam",
            "rule-0-duration_minutes": "60",
            "rule-0-new_duration_minutes": "90",
            "rule-1-position": "1",
            "rule-1-list": "",
            "rule-1-type": "Quiz",
            "rule-1-duration_minutes": "",
            "rule-1-new_duration_minutes": "30",
            "rule-2-position": "3",
            "rule-2-list": "Gone",
            "rule-2-new_duration_minutes": "5",
            "rule-2-delete": "on",
            "rule-3-position": "4",
        }
    )
    rules, errors = rules_body(f)
    assert errors == []
    assert rules == [
        {"list": None, "type": "Quiz", "duration_minutes": None, "new_duration_minutes": 30},
        {"list": "Active", "type": "Exam", "duration_minutes": 60, "new_duration_minutes": 90},
    ]


def test_rules_body_errors():
    _rules, errors = rules_body(form(**{"rule-0-list": "Active", "rule-0-duration_minutes": "x"}))
    assert {e["field"] for e in errors} == {
        "rules[0].duration_minutes",
        "rules[0].new_duration_minutes",
    }


def test_widget_body():
    body, errors = widget_body(
        form(
            name="Testing",
            center_ids=["c1", "c2"],
            is_invitation="on",
            invitation_types="Exam; Pop Quiz;",
            send_instructions_days="3",
            invitation_instructions="Hello\r\nthere",
            ask_fields=["online", "type", "bogus"],
            reminder_every_days="",
            reminder_text="Soon",
            invitation_subject="",
        )
    )
    assert errors == []
    assert body["invitation_types"] == ["Exam", "Pop Quiz"]
    assert body["ask_fields"] == ["type", "online"]
    assert body["hide_on_dashboard"] is False and body["is_invitation"] is True
    assert body["invitation_instructions"] == "Hello\nthere"
    assert "reminder_every_days" not in body and "invitation_subject" not in body
    _, errors = widget_body(form(name="", send_instructions_days="-1"))
    assert {e["field"] for e in errors} == {"name", "send_instructions_days"}


def test_report_query():
    query, errors = report_query(
        form(
            preset="this_month",
            type="Exam",
            fields=["student_email", "nope", "due_date"],
            format="csv",
            totals="on",
            group_by="reason",
            deliver="screen",
            csrf_token="t",
        )
    )
    assert errors == []
    assert query == {
        "preset": "this_month",
        "type": "Exam",
        "fields": "student_email,due_date",
        "format": "csv",
        "totals": "true",
        "group_by": "reason",
    }
    query, errors = report_query(
        form(preset="custom", **{"from": "2030-01-10", "to": "2030-01-01"})
    )
    assert errors == [{"field": "to", "message": "must not be before the first day"}]
    _, errors = report_query(form(preset="custom"))
    assert {e["field"] for e in errors} == {"from", "to"}
    assert report_query(form(preset="someday"))[1][0]["field"] == "preset"


def test_slots_by_day_uses_the_centers_local_date():
    slots = [
        {"starts_at": "2030-01-02T09:00:00-05:00", "availability_id": "b"},
        {"starts_at": "2030-01-01T23:30:00-05:00", "availability_id": "a"},  # 04:30Z on the 2nd
        {"starts_at": "2030-01-02T08:00:00-05:00", "availability_id": "c"},
        {"starts_at": "garbage"},
    ]
    days = slots_by_day(slots)
    assert [d.day for d in days] == [date(2030, 1, 1), date(2030, 1, 2)]
    assert [s["availability_id"] for s in days[1].slots] == ["c", "b"]


def test_search_window_pages_by_week_up_to_the_due_date():
    w = search_window(date(2030, 1, 10), date(2030, 2, 1), None)
    assert (w.start, w.end, w.next_start) == (
        date(2030, 1, 9),
        date(2030, 1, 16),
        date(2030, 1, 17),
    )
    w = search_window(date(2030, 1, 10), date(2030, 1, 12), None)
    assert (w.start, w.end, w.next_start) == (date(2030, 1, 9), date(2030, 1, 12), None)
    assert search_window(date(2030, 1, 10), date(2030, 1, 5), None) is None
    w = search_window(date(2030, 1, 10), None, date(2030, 3, 1))
    assert w.start == date(2030, 3, 1) and w.next_start is not None
