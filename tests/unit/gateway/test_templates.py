"""Every page template renders with representative data (no services needed)."""

from datetime import date
from types import SimpleNamespace

import pytest

from services.gateway.domain.forms import (
    ASK_FIELDS,
    REPORT_EXTRA_FIELDS,
    REPORT_GROUPS,
    REPORT_PRESETS,
    SearchWindow,
    slots_by_day,
)
from services.gateway.views import make_environment, nav_for

USER = SimpleNamespace(name="Sam Staff", role="admin", id="u1")
BASE = {
    "user": USER,
    "csrf_token": "tok",
    "nav": nav_for("admin"),
    "path": "/students",
    "app_env": "test",
    "today": date(2030, 1, 1),
}
STUDENT = {
    "student_id": "S1",
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann@example.edu",
    "lists": ["Active"],
}
WIDGET = {
    "id": "w1",
    "name": "Testing Center",
    "invitation_types": ["Exam", "Quiz"],
    "ask_fields": [f for f, _ in ASK_FIELDS],
    "invitation_instructions": "Hi",
    "center_ids": ["c1"],
    "is_invitation": True,
    "hide_on_dashboard": True,
    "send_instructions_days": 3,
    "reminder_every_days": 2,
    "reminder_text": "",
    "invitation_subject": "",
}
SLOT = {
    "availability_id": "a1",
    "starts_at": "2030-01-02T09:00:00-05:00",
    "ends_at": "2030-01-02T10:00:00-05:00",
    "duration_minutes": 60,
    "consultant": {"id": "k", "name": "Kim"},
    "center": {"id": "c1", "name": "Main"},
    "modality": "in_person",
    "kind": "group",
}
APPOINTMENT = {
    **SLOT,
    "id": "ap1",
    "status": "active",
    "attendance": "pending",
    "student_id": "S1",
    "invite_id": "i1",
    "booked_by": "student",
    "booked_at": "2030-01-01T08:00:00+00:00",
    "invite": {
        "type": "Exam",
        "asked_duration_minutes": 60,
        "exam_code": "E1",
        "exam_file": "f.pdf",
        "exam_passcode": "pw",
        "notes": "n",
        "applied_rule": {
            "list": "Active",
            "type": "Exam",
            "duration_minutes": 60,
            "new_duration_minutes": 90,
        },
    },
}
INVITE = {
    "id": "i1",
    "type": "Exam",
    "widget_name": "Testing Center",
    "status": "active",
    "due_date": "2030-01-10",
    "section": {"subject": "MATH", "course": "101", "section": "A"},
    "reason": {"name": "Exam"},
    "duration_minutes": 60,
    "created_at": "2030-01-01T08:00:00Z",
    "created_by": "u1",
    "created_by_name": "Sam",
    "invitee_count": 1,
    "counts": {"booked": 1},
    "modalities": {"in_person": True, "online": False},
    "invitees": [
        {
            "id": "p1",
            "student_id": "S1",
            "name": "Ann Lee",
            "email": "a@x",
            "status": "booked",
            "instructions_sent_at": "2030-01-01T09:00:00Z",
            "reminders_sent": 1,
            "last_delivery_error": None,
            "appointment_id": "ap1",
        }
    ],
}


def value_of(values):
    return lambda name, default="": values.get(name, default)


CASES = {
    "login.html": {"error": "Wrong", "next": "/x", "user": None},
    "error.html": {
        "title": "Nope",
        "message": "gone",
        "errors": [{"field": "f", "message": "m"}],
        "back": "/",
    },
    "students.html": {
        "students": [STUDENT],
        "filters": {"q": "", "list": "", "section_id": ""},
        "sections": [{"section_id": "s", "subject": "M", "course": "1", "section": "A"}],
        "lists": ["Active"],
        "next_url": "/n",
        "back": "/students",
    },
    "choose_widget.html": {"widgets": [WIDGET], "student_ids": "S1", "count": 1, "back": "/"},
    "invite_form.html": {
        "widget": WIDGET,
        "asked": WIDGET["ask_fields"],
        "ask_labels": dict(ASK_FIELDS),
        "sections": [],
        "reasons": [{"reason_id": "r", "name": "Exam"}],
        "student_ids": "S1",
        "count": 1,
        "choices": [("S1", "Ann")],
        "value": value_of({}),
        "email_text": "Hi",
        "modalities": {"in_person": True, "online": False, "one_on_one": True, "group": True},
        "errors": {"due_date": "is required"},
        "error_list": [{"field": "due_date", "message": "is required"}],
        "detail": "Fix",
        "back": "/",
    },
    "invites.html": {
        "invites": [INVITE],
        "widgets": [WIDGET],
        "next_url": None,
        "filters": {"widget_id": "", "type": "", "status": ""},
    },
    "invite.html": {"invite": INVITE, "created": 3, "cancelled": False},
    "duration_rules.html": {
        "rows": [
            {"list": "Active", "type": "", "duration_minutes": "", "new_duration_minutes": 90}
        ],
        "editable": True,
        "saved": True,
        "errors": {},
        "error_list": [],
    },
    "appointments.html": {
        "appointments": [APPOINTMENT],
        "next_url": None,
        "filters": {"from": "2030-01-01", "to": "2030-01-08", "student_id": "", "status": ""},
    },
    "appointment.html": {
        "appointment": APPOINTMENT,
        "student": STUDENT,
        "tab": "invite",
        "saved": "attendance",
    },
    "widgets.html": {"widgets": [WIDGET], "centers": {"c1": "Main"}, "saved": False},
    "widget_form.html": {
        "widget": {**WIDGET, "invitation_types": "Exam; Quiz"},
        "widget_id": "w1",
        "ask_fields": ASK_FIELDS,
        "centers": [{"id": "c1", "name": "Main", "timezone": "UTC"}],
        "errors": {},
        "error_list": [],
        "detail": None,
    },
    "report_form.html": {
        "presets": REPORT_PRESETS,
        "extra_fields": REPORT_EXTRA_FIELDS,
        "groups": REPORT_GROUPS,
        "types": ["Exam"],
        "sections": [],
        "reasons": [],
        "value": value_of({}),
        "chosen": lambda name: [],
        "errors": {},
        "error_list": [],
        "detail": None,
        "delivered_to": "a@x",
    },
    "faculty_sections.html": {
        "sections": [
            {
                "section_id": "s",
                "subject": "M",
                "course": "1",
                "section": "A",
                "student_ids": ["S1"],
            }
        ]
    },
    "roster.html": {
        "section": {"subject": "M", "course": "1", "section": "A"},
        "students": [STUDENT],
        "back": "/faculty/sections/s",
    },
    "student_search.html": {
        "token": "T" * 32,
        "invitation": {
            "type": "Exam",
            "instructions": "Bring ID",
            "centers": [{"id": "c1", "name": "Main"}],
            "restrictions": {
                "section": None,
                "reason": {"name": "Exam"},
                "duration_minutes": 90,
                "modalities": {"in_person": True, "group": True},
            },
        },
        "days": slots_by_day([SLOT]),
        "window": SearchWindow(date(2030, 1, 1), date(2030, 1, 8), None),
        "due": date(2030, 1, 8),
        "problem": None,
        "notice": None,
        "first_page": True,
        "user": None,
    },
    "student_confirm.html": {
        "token": "T" * 32,
        "invitation": {"type": "Exam"},
        "slot": SLOT,
        "user": None,
    },
    "student_appointment.html": {
        "token": "T" * 32,
        "appointment": APPOINTMENT,
        "invitation": {"type": "Exam"},
        "booked": True,
        "user": None,
    },
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_template_renders(name):
    html = make_environment().get_template(name).render(**{**BASE, **CASES[name]})
    assert html.startswith("<!doctype html>") and '<html lang="en">' in html
    assert '<main id="main"' in html


def test_every_template_has_a_case():
    from services.gateway.views import TEMPLATES_DIR

    pages = {p.name for p in TEMPLATES_DIR.glob("*.html") if not p.name.startswith("_")}
    assert pages - {"base.html"} == set(CASES)


def test_student_search_groups_and_labels_slots():
    html = (
        make_environment()
        .get_template("student_search.html")
        .render(**{**BASE, **CASES["student_search.html"]})
    )
    assert "<legend>Wed 02 Jan 2030</legend>" in html
    assert "09:00–10:00" in html
    assert 'name="slot"' in html and '<label for="slot-1-2030-01-02">' in html


def test_empty_search_says_so_before_the_due_date():
    case = {**CASES["student_search.html"], "days": []}
    html = make_environment().get_template("student_search.html").render(**{**BASE, **case})
    assert "No times are available before the due date (Tue 08 Jan 2030)" in html


def test_autoescape():
    case = {**CASES["students.html"], "students": [{**STUDENT, "first_name": "<script>x"}]}
    html = make_environment().get_template("students.html").render(**{**BASE, **case})
    assert "<script>x" not in html and "&lt;script&gt;x" in html
