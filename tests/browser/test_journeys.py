"""The staff, student and faculty journeys in headless Chromium, on the whole running system.

Setup goes through the public API (as an administrator would have done it
earlier); everything the journeys are about is done by clicking in the pages.
Each page is photographed at desktop and phone width and scanned with axe-core.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

from tests.browser.support import (
    DESKTOP,
    PASSWORD,
    Api,
    PageCheck,
    link_in,
    poll,
)
from tests.support.system import System

MONDAY = "2031-03-03T13:00:00+00:00"  # 08:00 in New York; every date below follows from it
DUE = "2031-03-07"  # instructions at due − 7 days: already past, so they go out at once
WIDGET_FIELDS = ["type", "section", "reason", "duration", "exam_code", "exam_passcode"]
STUDENTS = [
    ("S1", "Ada", "Lovelace", ["Active"]),
    ("S2", "Alan", "Turing", []),
    ("S3", "Grace", "Hopper", []),
    ("S4", "Edsger", "Dijkstra", []),
    ("S5", "Barbara", "Liskov", []),
]


@dataclass
class World:
    url: str
    widget_id: str
    staff: tuple[str, str]
    faculty: tuple[str, str]


def email_of(first_name: str) -> str:
    return f"{first_name.lower()}@example.edu"


@pytest.fixture(scope="module")
def world(system: System, admin_api: Api) -> World:
    """Center, consultant, directory, availability, widget, rule, a staff and a faculty user."""
    api = admin_api
    api.call("POST", "/api/v1/test/clock", 200, {"now": MONDAY})
    center = api.call(
        "POST",
        "/api/v1/centers",
        201,
        {
            "name": "Testing Center",
            "timezone": "America/New_York",
            "slot_interval_minutes": 30,
            "default_appointment_minutes": 60,
        },
    )
    consultant = api.call(
        "POST", "/api/v1/consultants", 201, {"name": "Dana Proctor", "email": "dana@example.edu"}
    )
    api.call(
        "PUT",
        "/api/v1/terms/spring",
        (200, 201),
        {"name": "Spring", "starts_on": "2031-01-13", "ends_on": "2031-05-09"},
    )
    api.call("PUT", "/api/v1/reasons/exam", (200, 201), {"name": "Exam"})
    api.call(
        "POST",
        "/api/v1/students:import",
        (200, 201),
        {
            "items": [
                {
                    "student_id": sid,
                    "first_name": first,
                    "last_name": last,
                    "email": email_of(first),
                    "lists": lists,
                }
                for sid, first, last, lists in STUDENTS
            ]
        },
    )
    for section_id, course, faculty_id, members in (
        ("m101", "101", "F1", ["S1", "S2", "S3"]),
        ("c201", "201", "F2", ["S4", "S5"]),
    ):
        api.call(
            "PUT",
            f"/api/v1/sections/{section_id}",
            (200, 201),
            {
                "subject": "MATH",
                "course": course,
                "section": "01",
                "term": "spring",
                "faculty_ids": [faculty_id],
                "student_ids": members,
            },
        )
    # Wednesday and Thursday mornings in New York: the search shows two days.
    for day in ("2031-03-05", "2031-03-06"):
        api.call(
            "POST",
            "/api/v1/availabilities",
            201,
            {
                "consultant_id": consultant["id"],
                "center_id": center["id"],
                "starts_at": f"{day}T09:00:00-05:00",
                "ends_at": f"{day}T12:00:00-05:00",
                "modality": "in_person",
                "kind": "one_on_one",
                "capacity": 1,
                "section_ids": [],
                "reason_ids": [],
            },
        )
    widget = api.call(
        "POST",
        "/api/v1/widgets",
        201,
        {
            "name": "Exams",
            "center_ids": [center["id"]],
            "is_invitation": True,
            "hide_on_dashboard": True,
            "invitation_types": "Exam; Pop Quiz",
            "send_instructions_days": 7,
            "invitation_instructions": "Hello {{ student.first_name }}, book your "
            "{{ invite.type|lower }} by {{ invite.due_date }}: {{ link }}",
            "ask_fields": WIDGET_FIELDS,
            "reminder_every_days": 2,
            "reminder_text": "REMINDER: please book.",
        },
    )
    api.call(
        "PUT",
        "/api/v1/duration-rules",
        200,
        [{"list": "Active", "type": "Exam", "duration_minutes": 60, "new_duration_minutes": 90}],
    )
    for username, role, name, extra in (
        ("sam", "staff", "Sam Staff", {}),
        ("fay", "faculty", "Fay Faculty", {"faculty_id": "F1"}),
    ):
        api.call(
            "POST",
            "/api/v1/users",
            201,
            {
                "username": username,
                "password": PASSWORD,
                "role": role,
                "name": name,
                "email": f"{username}@example.edu",
                **extra,
            },
        )
    return World(system.url, widget["id"], ("sam", PASSWORD), ("fay", PASSWORD))


@pytest.fixture
def contexts(browser: Browser, world: World) -> Iterator[Any]:
    """New browser contexts (one per person), closed after the test."""
    opened: list[BrowserContext] = []

    def open_context() -> BrowserContext:
        context = browser.new_context(
            base_url=world.url, viewport=DESKTOP, accept_downloads=True, locale="en-US"
        )
        context.set_default_timeout(15_000)
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        context.close()


def log_in(page: Page, username: str, password: str, check: PageCheck | None = None) -> None:
    page.goto("/login")
    if check is not None:
        check.visit(page, "login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def fill_invite_form(page: Page, check: PageCheck, count: int) -> str:
    """The form shows exactly the widget's fields; preview, create; returns the invite id."""
    expect(page.get_by_role("heading", name="Create Appointment Invite")).to_be_visible()
    labels = {t.strip() for t in page.locator("#invite-form label").all_inner_texts()}
    assert labels == {
        "Due date",
        "Type",
        "Section",
        "Reason",
        "Duration (minutes)",
        "Exam code",
        "Exam passcode",
        "Email text",
        "Preview for",
    }, labels
    assert page.get_by_label("Exam file").count() == 0
    assert page.get_by_label("Notes (staff only)").count() == 0
    assert page.get_by_text("Appointments the student may book").count() == 0
    expect(page.get_by_label("Email text")).to_have_value(
        "Hello {{ student.first_name }}, book your {{ invite.type|lower }} by "
        "{{ invite.due_date }}: {{ link }}"
    )
    page.get_by_label("Due date").fill(DUE)
    page.get_by_label("Type").select_option("Exam")
    page.get_by_label("Section").select_option(label="MATH 101-01")
    page.get_by_label("Reason").select_option(label="Exam")
    page.get_by_label("Duration (minutes)").fill("60")
    page.get_by_label("Exam code").fill("MID-1")
    page.get_by_label("Exam passcode").fill("s3cret")
    check.visit(page, "invite-form")
    page.get_by_role("button", name="Preview", exact=True).click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("book your exam by 2031-03-07")
    check.visit(page, "invite-preview")
    page.get_by_role("button", name="Create Invitations").click()
    page.wait_for_url("**/invites/*?created=*")
    s = "s" if count != 1 else ""
    expect(page.get_by_role("status")).to_have_text(f"Invitations created for {count} student{s}.")
    check.visit(page, "invite-created")
    return urlsplit(page.url).path.rsplit("/", 1)[1]


def report_rows(api: Api) -> list[dict[str, str]]:
    text = api.call(
        "GET",
        "/api/v1/reports/appointment-invite-schedule?from=2031-03-01&to=2031-03-31&format=csv",
        200,
    )
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_staff_invites_student_books_staff_reviews(
    contexts: Any, world: World, admin_api: Api
) -> None:
    check = PageCheck("staff")
    staff = contexts().new_page()

    # Staff: Students listing → select three → Create Appointment Invite → widget → form.
    log_in(staff, *world.staff, check=check)
    staff.goto("/students")
    expect(staff.get_by_role("heading", name="Students")).to_be_visible()
    check.visit(staff, "students")
    for name in ("Ada Lovelace", "Alan Turing", "Grace Hopper"):
        staff.get_by_label(f"Select {name}").check()
    expect(staff.get_by_text("3 selected")).to_be_visible()
    staff.get_by_role("button", name="Create Appointment Invite").click()
    expect(staff.get_by_text("Inviting 3 students")).to_be_visible()
    check.visit(staff, "choose-widget")
    staff.get_by_label("Exams").check()
    staff.get_by_role("button", name="Continue").click()
    invite_id = fill_invite_form(staff, check, 3)

    # Student: the link from the captured email → search → confirm → booked.
    ada_mail = poll(
        lambda: admin_api.mail_to("ada@example.edu"),
        lambda m: len(m) >= 1,
        timeout=30,
        message="Ada's instruction email",
    )
    link = link_in(ada_mail[0]["text"])
    token = urlsplit(link).path.rsplit("/", 1)[1]
    student_check = PageCheck("student")
    student = contexts().new_page()
    student.goto(link)
    student.wait_for_url(f"**/invitations/{token}")
    expect(student.get_by_role("heading", name="Book your Exam appointment")).to_be_visible()
    restrictions = student.locator("ul.restrictions")
    expect(restrictions).to_contain_text("Section: MATH 101-01")
    expect(restrictions).to_contain_text("Reason: Exam")
    days = student.locator("fieldset.day legend").all_inner_texts()
    assert days[:2] == ["Wed 05 Mar 2031", "Thu 06 Mar 2031"], days
    expect(student.locator(".slot").first).to_contain_text("09:00–10:30")
    expect(student.locator(".slot").first).to_contain_text("90 min")  # the Active list rule
    student_check.visit(student, "search")
    student.locator("input[name=slot]").first.check()
    student.get_by_role("button", name="Continue").click()
    expect(student.get_by_role("heading", name="Confirm your appointment")).to_be_visible()
    student_check.visit(student, "confirm")
    student.get_by_role("button", name="Confirm appointment").click()
    student.wait_for_url(f"**/invitations/{token}/appointment?booked=1")
    expect(student.get_by_role("status")).to_have_text("Your appointment is booked.")
    expect(student.locator(".facts")).to_contain_text("Wed 05 Mar 2031, 09:00–10:30")
    student_check.visit(student, "booked")
    # The same link later opens the appointment.
    student.goto(link)
    student.wait_for_url(f"**/invitations/{token}/appointment")
    expect(student.get_by_role("heading", name="Your appointment")).to_be_visible()
    student_check.visit(student, "appointment")
    assert "s3cret" not in student.content()

    # Staff: the booking in the invite's listing → the appointment's Invite tab → attendance.
    def ada_row() -> str:
        staff.goto(f"/invites/{invite_id}")
        return staff.get_by_role("row").filter(has_text="(S1)").inner_text()

    poll(ada_row, lambda row: "Booked" in row, timeout=20, message="Ada booked in the invite")
    check.visit(staff, "invite-detail")
    staff.get_by_role("row").filter(has_text="(S1)").get_by_role(
        "link", name="View appointment"
    ).click()
    expect(staff.locator(".facts")).to_contain_text("Ada Lovelace")
    check.visit(staff, "appointment")
    staff.get_by_role("link", name="Invite", exact=True).click()
    panel = staff.locator("section.panel")
    expect(panel).to_contain_text("MID-1")
    expect(panel).to_contain_text("s3cret")
    expect(panel).to_contain_text("60 minutes")  # asked; 90 booked through the rule
    check.visit(staff, "appointment-invite-tab")
    staff.get_by_label("Attended").check()
    staff.get_by_role("button", name="Save attendance").click()
    expect(staff.get_by_role("status")).to_have_text("Attendance saved.")
    expect(staff.get_by_label("Attended")).to_be_checked()
    check.visit(staff, "attendance-saved")

    staff.goto("/appointments?from=2031-03-01&to=2031-03-31")
    expect(staff.get_by_role("main")).to_contain_text("Dana Proctor")
    check.visit(staff, "appointments")
    staff.goto(f"/invites?widget_id={world.widget_id}")
    check.visit(staff, "invites")

    # The report CSV, downloaded from the report form, has the appointment and attendance.
    poll(
        lambda: report_rows(admin_api),
        lambda rows: any(r["attendance"] == "attended" for r in rows),
        timeout=20,
        message="the report's read store",
    )
    staff.goto("/reports/appointment-invite-schedule")
    check.visit(staff, "report-form")
    staff.get_by_label("Time frame", exact=True).select_option("custom")
    staff.get_by_label("From (custom)").fill("2031-03-01")
    staff.get_by_label("To (custom)").fill("2031-03-31")
    staff.get_by_label("CSV").check()
    staff.get_by_label("Student email").check()
    with staff.expect_download() as download:
        staff.get_by_role("button", name="Run report").click()
    saved = Path(download.value.path())
    assert download.value.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(saved.read_text("utf-8-sig"))))
    assert [(r["student_id"], r["attendance"]) for r in rows] == [("S1", "attended")], rows
    assert rows[0]["exam_code"] == "MID-1" and rows[0]["duration_minutes"] == "90"
    assert rows[0]["student_email"] == "ada@example.edu"

    # The same report as HTML on the screen (rendered by the report service).
    staff.get_by_label("HTML").check()
    staff.get_by_role("button", name="Run report").click()
    staff.wait_for_url("**/api/v1/reports/appointment-invite-schedule?*format=html*")
    expect(staff.locator("table")).to_contain_text("MID-1")
    check.visit(staff, "report-html", ours=False)

    check.assert_accessible()
    student_check.assert_accessible()


def test_faculty_invites_from_their_roster_only(
    contexts: Any, world: World, playwright: Playwright
) -> None:
    check = PageCheck("faculty")
    page = contexts().new_page()
    log_in(page, *world.faculty)
    page.wait_for_url("**/faculty/sections")
    expect(page.get_by_role("main")).not_to_contain_text("MATH 201")
    check.visit(page, "sections")
    page.get_by_role("link", name="MATH 101-01").click()
    check.visit(page, "roster")
    for name in ("Alan Turing", "Grace Hopper"):
        page.get_by_label(f"Select {name}").check()
    page.get_by_role("button", name="Create Appointment Invite").click()
    page.get_by_label("Exams").check()
    page.get_by_role("button", name="Continue").click()
    fill_invite_form(page, check, 2)

    # Another section's roster: the page and the API refuse.
    page.goto("/faculty/sections/c201")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    check.visit(page, "other-section-refused")
    page.goto("/students")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    check.visit(page, "students-listing-refused")
    request = page.request
    assert request.get("/api/v1/sections/c201").status == 404
    assert request.get("/api/v1/students/S4").status == 404
    listed = request.get("/api/v1/students?section_id=c201")
    assert listed.status == 200 and listed.json()["items"] == []
    everyone = {s["student_id"] for s in request.get("/api/v1/students").json()["items"]}
    assert everyone == {"S1", "S2", "S3"}
    refused = request.post(
        "/api/v1/invites",
        data={"widget_id": world.widget_id, "student_ids": ["S2", "S4"], "due_date": DUE},
    )
    assert refused.status == 403, refused.text()
    # A forged page form naming another section's student is refused as a whole.
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    forged = request.post(
        "/invites/create",
        form={
            "csrf_token": csrf or "",
            "widget_id": world.widget_id,
            "asked": "",
            "student_ids": "S4",
            "due_date": DUE,
            "email_text": "Hello",
        },
    )
    assert forged.status == 403, forged.text()
    check.assert_accessible()


def test_admin_pages_and_the_dead_link_page(contexts: Any, world: World) -> None:
    check = PageCheck("admin")
    page = contexts().new_page()
    log_in(page, "admin", "admin-password-1")
    page.goto("/admin/widgets")
    check.visit(page, "widgets")
    page.get_by_role("link", name="Exams").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Exams")
    check.visit(page, "widget-edit")
    page.goto("/admin/widgets/new")
    check.visit(page, "widget-new")
    page.goto("/duration-rules")
    expect(page.get_by_label("Student list of rule 1")).to_have_value("Active")
    check.visit(page, "duration-rules")
    page.goto("/dev/mail")
    check.visit(page, "mail-viewer", ours=False)

    stranger = contexts().new_page()
    stranger.goto("/i/" + "x" * 43)
    expect(stranger.get_by_role("heading", name="This link does not work")).to_be_visible()
    check.visit(stranger, "dead-link")
    check.assert_accessible()
