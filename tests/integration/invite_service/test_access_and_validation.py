"""Who may do what, and how bad input is answered: 401, 403, 422 naming fields, never 500."""

from __future__ import annotations

from datetime import date, timedelta

from tests.integration.invite_service.conftest import ADMIN, FACULTY, STAFF, invite_body, ok
from tests.support.infra import EventTap, headers_for, problem_fields, service_db

from .conftest import flush_events


async def invite_count(settings) -> int:
    conn = await service_db(settings, "invite_service")
    try:
        return await conn.fetchval("SELECT count(*) FROM invites")
    finally:
        await conn.close()


async def test_requests_without_identity_get_401(invites):
    for method, path in [
        ("GET", "/api/v1/students"),
        ("POST", "/api/v1/invites"),
        ("GET", "/api/v1/duration-rules"),
        ("POST", "/api/v1/widgets"),
    ]:
        resp = await invites.client.request(method, path, json={})
        assert resp.status == 401, path
        assert resp.content_type == "application/problem+json"
    forged = {"X-Identity": "e30.bm9wZQ"}
    assert (await invites.client.get("/api/v1/students", headers=forged)).status == 401


async def test_faculty_inviting_outside_their_rosters_gets_403_for_the_whole_invite(invites):
    async with EventTap(invites.settings) as tap:
        await flush_events(invites, tap)
        # s4 exists but is on no roster of F1's sections.
        resp = await invites.invite(headers=FACULTY, student_ids=["s1", "s4"])
        assert resp.status == 403
        assert "rosters" in (await resp.json())["detail"]
        assert await invite_count(invites.settings) == 0
        # A student who does not exist is equally outside the rosters (and not revealed).
        assert (await invites.invite(headers=FACULTY, student_ids=["nobody"])).status == 403
        # A faculty identity without a faculty id may invite no one.
        no_id = headers_for("faculty", "f-2")
        assert (await invites.invite(headers=no_id, student_ids=["s1"])).status == 403
        assert await flush_events(invites, tap) == []

    created = await ok(await invites.invite(headers=FACULTY, student_ids=["s1", "s2"]), 201)
    assert len(created["invitees"]) == 2
    other_faculty = headers_for("faculty", "fac-user-2", faculty_id="F2")
    assert (await invites.invite(headers=other_faculty, student_ids=["s1"])).status == 403
    # Students and admins may not invite at all.
    assert (await invites.invite(headers=headers_for("student", "link"))).status == 403


async def test_faculty_see_their_sections_students_and_invites_only(invites):
    client = invites.client
    await ok(await invites.invite(headers=FACULTY, student_ids=["s1"]), 201)
    await ok(await invites.invite(headers=STAFF, student_ids=["s4"]), 201)

    sections = await ok(await client.get("/api/v1/sections", headers=FACULTY))
    assert [s["section_id"] for s in sections["items"]] == ["MATH101-01"]
    assert sections["items"][0]["student_ids"] == ["s1", "s2", "s3"]
    students = await ok(await client.get("/api/v1/students", headers=FACULTY))
    assert [s["student_id"] for s in students["items"]] == ["s1", "s2", "s3"]
    assert (await client.get("/api/v1/students/s4", headers=FACULTY)).status == 404
    assert (await client.get("/api/v1/students/s4", headers=STAFF)).status == 200

    mine = await ok(await client.get("/api/v1/invites", headers=FACULTY))
    assert [i["created_by"] for i in mine["items"]] == ["fac-user-1"]
    everyone = await ok(await client.get("/api/v1/invites", headers=STAFF))
    assert len(everyone["items"]) == 2
    staff_invite = next(i for i in everyone["items"] if i["created_by"] == "staff-1")
    assert (
        await client.get(f"/api/v1/invites/{staff_invite['id']}", headers=FACULTY)
    ).status == 404
    assert (
        await client.post(f"/api/v1/invites/{staff_invite['id']}/cancel", headers=FACULTY)
    ).status == 404


async def test_roles_on_directory_widgets_and_rules(invites):
    client = invites.client
    student = {"first_name": "A", "last_name": "B", "email": "a@example.edu"}
    assert (await client.put("/api/v1/students/x1", json=student, headers=FACULTY)).status == 403
    saved = await ok(
        await client.put("/api/v1/students/x1", json={**student, "student_id": "x1"}, headers=STAFF)
    )
    assert saved["student_id"] == "x1" and saved["lists"] == []
    resp = await client.put(
        "/api/v1/students/x1", json={**student, "student_id": "x2"}, headers=STAFF
    )
    assert resp.status == 422 and problem_fields(await resp.json()) == {"student_id"}
    assert (await client.post("/api/v1/widgets", json={"name": "W"}, headers=STAFF)).status == 403
    assert (await client.get(f"/api/v1/widgets/{invites.widget_id}", headers=FACULTY)).status == 200
    assert (await client.put("/api/v1/duration-rules", json=[], headers=STAFF)).status == 403
    assert (await client.get("/api/v1/duration-rules", headers=FACULTY)).status == 403
    assert (await client.get("/api/v1/duration-rules", headers=STAFF)).status == 200
    assert (await client.put("/api/v1/duration-rules", json=[], headers=ADMIN)).status == 200


async def test_invite_422s_name_the_fields(invites):
    async def fields(**overrides):
        resp = await invites.invite(**overrides)
        body = await resp.json()
        assert resp.status == 422, body
        assert resp.content_type == "application/problem+json"
        return problem_fields(body)

    yesterday = (date.today() - timedelta(days=2)).isoformat()
    assert await fields(due_date=yesterday) == {"due_date"}
    assert await fields(type="Essay") == {"type"}
    assert await fields(modalities={"online": True}) == {"modalities.online"}
    assert await fields(modalities={"online": "yes"}) == {"modalities.online"}
    assert await fields(duration_minutes=3) == {"duration_minutes"}
    assert await fields(duration_minutes=45.5) == {"duration_minutes"}
    assert await fields(section_id="NOPE") == {"section_id"}
    assert await fields(reason_id="nope") == {"reason_id"}
    assert await fields(student_ids=[]) == {"student_ids"}
    assert await fields(student_ids=["s1", "s1"]) == {"student_ids"}
    assert await fields(widget_id="not-a-widget") == {"widget_id"}
    assert await fields(due_date="soon") == {"due_date"}
    assert await fields(colour="red") == {"colour"}
    assert await fields(widget_id=...) == {"widget_id"}

    resp = await invites.invite(student_ids=["s1", "ghost-1", "ghost-2"])
    body = await resp.json()
    assert resp.status == 422 and problem_fields(body) == {"student_ids"}
    assert body["errors"][0]["ids"] == ["ghost-1", "ghost-2"]

    resp = await invites.invite(email_text="Hello\n{{ student.first_name ")
    body = await resp.json()
    assert resp.status == 422 and problem_fields(body) == {"email_text"}
    assert body["errors"][0]["line"] == 2 and "line 2" in body["errors"][0]["message"]

    # A widget that does not ask for a field refuses it.
    narrow = await ok(
        await invites.client.post(
            "/api/v1/widgets",
            json={"name": "Narrow", "ask_fields": ["type"], "invitation_types": ["Exam"]},
            headers=ADMIN,
        ),
        201,
    )
    resp = await invites.invite(widget_id=narrow["id"], exam_code="X")
    body = await resp.json()
    assert resp.status == 422
    assert problem_fields(body) >= {"exam_code", "section_id", "reason_id", "duration_minutes"}
    assert await invite_count(invites.settings) == 0


async def test_garbage_never_gets_a_500(invites):
    client = invites.client
    bodies = [None, "", "[]", "{", '"x"', "123", '{"items": 5}', '{"student_ids": "s1"}',
              '{"widget_id": 5, "due_date": [], "student_ids": [null]}', "\x00\xff"]  # fmt: skip
    routes = [
        ("POST", "/api/v1/invites"),
        ("POST", "/api/v1/invites/preview"),
        ("POST", "/api/v1/students:import"),
        ("PUT", "/api/v1/students/s1"),
        ("PUT", "/api/v1/sections/X"),
        ("PUT", "/api/v1/reasons/r"),
        ("PUT", "/api/v1/terms/t"),
        ("POST", "/api/v1/widgets"),
        ("PATCH", f"/api/v1/widgets/{invites.widget_id}"),
        ("PUT", "/api/v1/duration-rules"),
    ]
    for method, path in routes:
        for raw in bodies:
            resp = await client.request(
                method,
                path,
                data=raw.encode("utf-8", "surrogatepass") if raw is not None else None,
                headers={**ADMIN, "Content-Type": "application/json"},
            )
            if path == "/api/v1/duration-rules" and raw == "[]":
                assert resp.status == 200  # an empty list of rules is a valid list
                continue
            assert 400 <= resp.status < 500, (method, path, raw, resp.status, await resp.text())
    for path in [
        "/api/v1/invites/not-a-uuid",
        "/api/v1/invites/00000000-0000-0000-0000-000000000000",
        "/api/v1/widgets/zzz",
        "/api/v1/students/nobody",
        "/api/v1/sections/none",
        "/api/v1/invites?cursor=%%%",
        "/api/v1/invites?widget_id=nope",
        "/api/v1/invites?limit=0",
        "/api/v1/invites?limit=abc",
        "/api/v1/invites?status=weird",
        "/api/v1/students?cursor=eyJ4Ijox",
        "/api/v1/widgets?cursor=WyJhIiwiYiJd",
        "/api/v1/invites?cursor=WyJhIiwiYiJd",
        # A NUL byte cannot reach PostgreSQL text: a 4xx, not a database error.
        "/api/v1/students/a%00b",
        "/api/v1/sections/a%00b",
        "/api/v1/students?q=a%00b",
        "/api/v1/students?list=%00",
        "/api/v1/invites?type=%00",
        "/api/v1/invites?created_by=x%00",
    ]:
        resp = await client.get(path, headers=ADMIN)
        assert 400 <= resp.status < 500, (path, resp.status, await resp.text())
    resp = await client.post(
        "/api/v1/invites/00000000-0000-0000-0000-000000000000/cancel", headers=ADMIN
    )
    assert resp.status == 404
    for path, body in [
        ("/api/v1/widgets", {"name": "W", "invitation_instructions": "Hi\u0000"}),
        ("/api/v1/widgets", {"name": "W", "reminder_text": "\u0007"}),
        ("/api/v1/widgets", {"name": "W", "invitation_subject": "S\u0000"}),
        ("/api/v1/invites", invite_body(invites.widget_id, email_text="x\u0000")),
        ("/api/v1/invites", invite_body(invites.widget_id, notes="x\u0000")),
        ("/api/v1/invites", invite_body(invites.widget_id, exam_file="f\u0000")),
    ]:
        resp = await client.post(path, json=body, headers=ADMIN)
        assert resp.status == 422, (path, body, await resp.text())


async def test_preview_for_one_real_student(invites):
    client = invites.client
    body = invite_body(invites.widget_id)
    body.pop("student_ids")
    resp = await client.post(
        "/api/v1/invites/preview", json={**body, "student_id": "s2"}, headers=STAFF
    )
    preview = await ok(resp)
    assert preview["subject"] == "Exam for First2"
    assert preview["text"].startswith("Hi First2,\nbook your Exam by ")
    assert "http://invites.test/i/" in preview["text"]
    assert "<br />" in preview["html"]
    assert await invite_count(invites.settings) == 0

    resp = await client.post(
        "/api/v1/invites/preview",
        json={**body, "student_id": "s2", "email_text": "{{ instructions }}\n{% endif %}"},
        headers=STAFF,
    )
    problem = await resp.json()
    assert resp.status == 422 and problem["errors"][0]["line"] == 2
    resp = await client.post(
        "/api/v1/invites/preview", json={**body, "student_id": "ghost"}, headers=STAFF
    )
    assert resp.status == 422 and problem_fields(await resp.json()) == {"student_id"}
    resp = await client.post(
        "/api/v1/invites/preview", json={**body, "student_id": "s4"}, headers=FACULTY
    )
    assert resp.status == 403
