"""The report over the scenario's rows matches hand-computed expectations (scenario.py)."""

from __future__ import annotations

from typing import Any

from tests.integration.report_service.conftest import STAFF, fetch_csv, parse_csv
from tests.integration.report_service.scenario import EXPECTED_ROWS, HEADER
from tests.support.infra import headers_for, problem_fields

PATH = "/api/v1/reports/appointment-invite-schedule"
WEEK = {"from": "2026-03-02", "to": "2026-03-08"}


def rows_of(*appointments: str) -> list[list[str]]:
    return [EXPECTED_ROWS[a] for a in appointments]


async def test_csv_lists_one_row_per_booked_appointment_in_api_order(scenario_service):
    client, _, _ = scenario_service
    table = await fetch_csv(client, **WEEK)
    assert table[0] == HEADER
    # ap4 was cancelled (and iv4 rebooked as ap5); ap3 is on 03-03 in New York.
    assert table[1:] == rows_of("ap1", "ap2", "ap3", "ap5")


async def test_csv_is_crlf_with_bom_and_attachment_headers(scenario_service):
    client, _, _ = scenario_service
    resp = await client.get(PATH, params={**WEEK, "format": "csv"}, headers=STAFF)
    body = await resp.read()
    assert body.startswith(b"\xef\xbb\xbfstudent_id,student_name,")
    assert body.count(b"\r\n") == 5 and b"\n" not in body.replace(b"\r\n", b"")
    assert resp.headers["Content-Disposition"] == (
        'attachment; filename="appointment-invite-schedule_2026-03-02_2026-03-08.csv"'
    )
    assert resp.headers["Cache-Control"] == "no-store"


FILTER_CASES = [
    ({"type": "Exam"}, ("ap1", "ap2")),
    ({"type": "pop quiz"}, ("ap3", "ap5")),
    ({"subject": "math"}, ("ap1", "ap2")),
    ({"course": "210"}, ("ap3", "ap5")),
    ({"section_id": "S2"}, ("ap3", "ap5")),
    ({"reason_id": "R1"}, ("ap1", "ap2")),
    ({"reason_id": "R1", "type": "Pop Quiz"}, ()),
    ({"center_id": "C1"}, ("ap1", "ap2", "ap3", "ap5")),
    ({"include_cancelled": "true"}, ("ap1", "ap2", "ap3", "ap4", "ap5")),
    ({"from": "2026-03-03", "to": "2026-03-03"}, ("ap2", "ap3")),
    ({"from": "2026-03-04", "to": "2026-03-05"}, ()),
    ({"from": "2026-03-06", "to": "2026-03-31"}, ("ap5",)),
]


async def test_each_filter(scenario_service):
    client, _, _ = scenario_service
    for params, expected in FILTER_CASES:
        table = await fetch_csv(client, **{**WEEK, **params})
        assert table[1:] == rows_of(*expected), params


PRESET_CASES = [
    # The clock says 2026-03-04 03:00 UTC: still Tuesday 2026-03-03 in New York.
    ("today", ("ap2", "ap3")),
    ("yesterday", ("ap1",)),
    ("this_week", ("ap1", "ap2", "ap3", "ap5")),
    ("last_week", ()),
    ("this_month", ("ap1", "ap2", "ap3", "ap5")),
    ("last_month", ()),
    ("this_semester", ("ap1", "ap2", "ap3", "ap5")),
    ("last_semester", ()),
    ("this_year", ("ap1", "ap2", "ap3", "ap5")),
]


async def test_presets_in_center_timezone(scenario_service):
    client, _, _ = scenario_service
    for preset, expected in PRESET_CASES:
        table = await fetch_csv(client, preset=preset)
        assert table[1:] == rows_of(*expected), preset


async def test_extra_fields_follow_the_fixed_columns(scenario_service):
    client, _, _ = scenario_service
    table = await fetch_csv(
        client,
        **WEEK,
        type="Exam",
        fields="student_email,student_lists,due_date,center,reason,term,reminders_sent",
    )
    assert table[0] == [
        *HEADER,
        "student_email",
        "student_lists",
        "due_date",
        "center",
        "term",
        "reminders_sent",
    ]
    extra = [row[len(HEADER) :] for row in table[1:]]
    assert extra == [
        ["ada@example.edu", "Active; Accommodations", "2026-03-10", "Learning Center",
         "Spring 2026", "1"],
        ["blaise@example.edu", "Active", "2026-03-10", "Learning Center", "Spring 2026", "0"],
    ]  # fmt: skip


async def test_fields_may_repeat(scenario_service):
    client, _, _ = scenario_service
    resp = await client.get(
        PATH,
        params=[*WEEK.items(), ("format", "csv"), ("fields", "due_date"), ("fields", "center")],
        headers=STAFF,
    )
    table = parse_csv(await resp.read())
    assert table[0][len(HEADER) :] == ["due_date", "center"]


async def test_totals(scenario_service):
    client, _, _ = scenario_service
    table = await fetch_csv(client, **WEEK, totals="true")
    assert table[1:5] == rows_of("ap1", "ap2", "ap3", "ap5")
    total = table[5]
    assert total[0] == "Total"
    assert total[1] == "4 appointments"
    assert total[HEADER.index("duration_minutes")] == "240"
    assert total[HEADER.index("attendance")] == "attended: 1; no_show: 1; pending: 2"
    assert len(table) == 6


async def test_group_by_consultant_with_subtotals_and_total(scenario_service):
    client, _, _ = scenario_service
    table = await fetch_csv(client, **WEEK, group_by="consultant", totals="true")
    minutes, attendance = HEADER.index("duration_minutes"), HEADER.index("attendance")
    assert table[1:3] == rows_of("ap2", "ap5")
    assert table[3][0] == "Subtotal (Consultant: Alan Turing)"
    assert (table[3][1], table[3][minutes], table[3][attendance]) == (
        "2 appointments",
        "90",
        "attended: 0; no_show: 1; pending: 1",
    )
    assert table[4:6] == rows_of("ap1", "ap3")
    assert table[6][0] == "Subtotal (Consultant: Grace Hopper)"
    assert (table[6][1], table[6][minutes]) == ("2 appointments", "150")
    assert table[7][0] == "Total" and table[7][minutes] == "240"
    assert len(table) == 8


GROUP_CASES = [
    ("type", [("Type: Exam", ("ap1", "ap2")), ("Type: Pop Quiz", ("ap3", "ap5"))]),
    (
        "reason",
        [("Reason: Exam proctoring", ("ap1", "ap2")), ("Reason: Tutoring", ("ap3", "ap5"))],
    ),
    (
        "section",
        [("Section: CHEM 210-02", ("ap3", "ap5")), ("Section: MATH 101-01", ("ap1", "ap2"))],
    ),
]


async def test_group_by(scenario_service):
    client, _, _ = scenario_service
    for group_by, groups in GROUP_CASES:
        table = await fetch_csv(client, **WEEK, group_by=group_by)
        expected: list[list[str]] = []
        for label, appointments in groups:
            expected.extend(rows_of(*appointments))
            subtotal = [""] * len(HEADER)
            subtotal[0] = f"Subtotal ({label})"
            expected.append(subtotal)
        got = [r if not r[0].startswith("Subtotal") else [r[0]] + [""] * 14 for r in table[1:]]
        assert got == expected, group_by


async def test_html_page_is_an_accessible_escaped_table(scenario_service):
    client, _, _ = scenario_service
    resp = await client.get(PATH, params={**WEEK, "group_by": "type", "totals": "1"}, headers=STAFF)
    html = await resp.text()
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "<caption>Appointment Invite Schedule: 2026-03-02 to 2026-03-08" in html
    assert '<th scope="col" data-field="student_id">Student ID</th>' in html
    assert '<th scope="colgroup" colspan="15">Type: Exam</th>' in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html
    # On the page the value is shown as typed (no spreadsheet quote).
    assert "@SUM(A1) Evil" in html and "'@SUM" not in html
    assert '<tr class="total"><th scope="row">Total</th>' in html
    assert "4 appointments." in html
    assert 'href="?from=2026-03-02&amp;to=2026-03-08&amp;group_by=type' in html
    assert "totals=1&amp;format=csv" in html


async def test_html_without_rows_says_so(scenario_service):
    client, _, _ = scenario_service
    resp = await client.get(PATH, params={"preset": "last_week"}, headers=STAFF)
    html = await resp.text()
    assert "No appointments match these criteria." in html and "0 appointments." in html


BAD_PARAMETERS = [
    ({"fields": "student_email,password,ssn"}, "fields"),
    ({"format": "xlsx"}, "format"),
    ({"preset": "next_week"}, "preset"),
    ({"preset": "today", "from": "2026-03-01"}, "preset"),
    ({"from": "2026-03-05"}, "to"),
    ({"from": "2026-03-05", "to": "2026-03-01"}, "to"),
    ({"from": "yesterday", "to": "2026-03-01"}, "from"),
    ({"group_by": "student"}, "group_by"),
    ({"totals": "maybe"}, "totals"),
    ({"center_id": "nope"}, "center_id"),
    ({"sectionid": "S1"}, "sectionid"),
]


async def test_bad_parameters_are_422_naming_the_field(scenario_service):
    client, _, _ = scenario_service
    for params, field in BAD_PARAMETERS:
        resp = await client.get(PATH, params=params, headers=STAFF)
        body = await resp.json()
        assert resp.status == 422, (params, body)
        assert field in problem_fields(body), (params, body)


async def test_unknown_fields_are_named(scenario_service):
    client, _, _ = scenario_service
    resp = await client.get(PATH, params={"fields": "student_email,ssn"}, headers=STAFF)
    body = await resp.json()
    assert "ssn" in body["detail"] and "student_email" not in body["detail"].split(";")[0]


async def test_semester_preset_without_terms_is_422(settings, start_service):
    from services.report_service.app import SPEC

    client, _ = await start_service(SPEC, settings)
    resp = await client.get(PATH, params={"preset": "this_semester"}, headers=STAFF)
    body = await resp.json()
    assert resp.status == 422 and problem_fields(body) == {"preset"}
    assert "no term contains" in body["detail"]


async def test_staff_only(scenario_service):
    client, _, _ = scenario_service
    cases: list[tuple[Any, int]] = [("faculty", 403), ("student", 403), (None, 401)]
    for role, status in cases:
        headers = headers_for(role) if role else {}
        resp = await client.get(PATH, params=WEEK, headers=headers)
        assert resp.status == status, role
        resp = await client.post(
            f"{PATH}/deliveries", json={**WEEK, "recipients": "a@example.edu"}, headers=headers
        )
        assert resp.status == status, role
        resp = await client.get("/api/v1/reports/deliveries/x", headers=headers)
        assert resp.status == status, role


async def test_admin_may_read(scenario_service):
    client, _, _ = scenario_service
    resp = await client.get(PATH, params=WEEK, headers=headers_for("admin"))
    assert resp.status == 200
    await resp.read()


async def test_openapi_fragment_lists_the_routes(scenario_service):
    client, _, _ = scenario_service
    resp = await client.get("/openapi.json", headers=STAFF)
    doc = await resp.json()
    assert set(doc["paths"]) == {
        PATH,
        f"{PATH}/deliveries",
        "/api/v1/reports/deliveries/{id}",
    }
    names = {p["name"] for p in doc["paths"][PATH]["get"]["parameters"]}
    assert {"from", "to", "preset", "fields", "format", "totals", "group_by"} <= names
