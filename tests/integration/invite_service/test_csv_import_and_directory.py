"""Directory: CSV and JSON imports (all or nothing), search, sections, one event per import."""

from __future__ import annotations

from tests.integration.invite_service.conftest import STAFF, ok
from tests.support.infra import EventTap, problem_fields, service_db

from .conftest import flush_events

CSV_HEADERS = {**STAFF, "Content-Type": "text/csv"}
HEADER = "student_id,first_name,last_name,email,lists\n"


async def student_ids(settings) -> list[str]:
    conn = await service_db(settings, "invite_service")
    try:
        return [
            r["student_id"] for r in await conn.fetch("SELECT student_id FROM students ORDER BY 1")
        ]
    finally:
        await conn.close()


async def test_csv_with_one_bad_row_imports_nothing_and_names_the_row(invites):
    before = await student_ids(invites.settings)
    good_rows = "".join(f"c{i},Ann,Lee{i},c{i}@example.edu,Active;Honors\n" for i in range(1, 6))
    text = HEADER + good_rows + "c6,Bob,Bad,not-an-address,\n" + "s1,Changed,Name,s1@example.edu,\n"
    async with EventTap(invites.settings) as tap:
        await flush_events(invites, tap)
        resp = await invites.client.post("/api/v1/students:import", data=text, headers=CSV_HEADERS)
        problem = await resp.json()
        assert resp.status == 422, problem
        assert problem["errors"] == [
            {"row": 6, "field": "email", "message": problem["errors"][0]["message"]}
        ]
        assert "rows 6" in problem["detail"] and "first row after the header" in problem["detail"]
        assert await flush_events(invites, tap) == []  # no event either
    assert await student_ids(invites.settings) == before
    # s1 was not changed by the refused import.
    s1 = await ok(await invites.client.get("/api/v1/students/s1", headers=STAFF))
    assert s1["first_name"] == "First1"


async def test_header_injection_in_a_quoted_cell_is_refused(invites):
    text = HEADER + 'c1,"Ann\r\nBcc: x@evil.test",Lee,c1@example.edu,\n'
    resp = await invites.client.post("/api/v1/students:import", data=text, headers=CSV_HEADERS)
    problem = await resp.json()
    assert resp.status == 422
    assert [(e["row"], e["field"]) for e in problem["errors"]] == [(1, "first_name")]


async def test_good_csv_upserts_and_emits_one_event(invites):
    text = (
        "\ufeff" + HEADER + "c1,Ann,Lee,c1@example.edu,Active; Honors\n"
        "s1,Firstly,Last1,s1@example.edu,\n"
    )
    async with EventTap(invites.settings) as tap:
        await flush_events(invites, tap)
        result = await ok(
            await invites.client.post(
                "/api/v1/students:import", data=text.encode(), headers=CSV_HEADERS
            )
        )
        events = await flush_events(invites, tap)
    assert result == {"imported": 2, "created": 1, "updated": 1}
    assert [e.type for e in events] == ["directory.students_upserted"]
    assert [s.student_id for s in events[0].payload.students] == ["c1", "s1"]
    assert events[0].payload.students[0].lists == ["Active", "Honors"]
    s1 = await ok(await invites.client.get("/api/v1/students/s1", headers=STAFF))
    assert s1["first_name"] == "Firstly" and s1["lists"] == []


async def test_json_import_errors_and_other_content_types(invites):
    client = invites.client
    items = [
        {"student_id": "j1", "first_name": "A", "last_name": "B", "email": "j1@example.edu"},
        {"student_id": "j2", "first_name": "A", "last_name": "B", "email": "bad email"},
        {"student_id": "j1", "first_name": "A", "last_name": "B", "email": "j1@example.edu"},
    ]
    resp = await client.post("/api/v1/students:import", json={"items": items}, headers=STAFF)
    problem = await resp.json()
    assert resp.status == 422
    assert [(e["row"], e["field"]) for e in problem["errors"]] == [(2, "email"), (3, "student_id")]
    resp = await client.post("/api/v1/students:import", json={"items": []}, headers=STAFF)
    assert resp.status == 422 and problem_fields(await resp.json()) == {"items"}
    resp = await client.post(
        "/api/v1/students:import", data=b"<x/>", headers={**STAFF, "Content-Type": "text/xml"}
    )
    assert resp.status == 415
    resp = await client.post("/api/v1/students:import", data=b"\xff\xfe", headers=CSV_HEADERS)
    assert resp.status == 422
    assert "j1" not in await student_ids(invites.settings)


async def test_student_search_and_pagination(invites):
    client = invites.client
    page = await ok(await client.get("/api/v1/students?limit=2", headers=STAFF))
    assert [s["student_id"] for s in page["items"]] == ["s1", "s2"]
    page2 = await ok(
        await client.get(f"/api/v1/students?limit=2&cursor={page['next_cursor']}", headers=STAFF)
    )
    assert [s["student_id"] for s in page2["items"]] == ["s3", "s4"]
    page3 = await ok(
        await client.get(f"/api/v1/students?limit=2&cursor={page2['next_cursor']}", headers=STAFF)
    )
    assert [s["student_id"] for s in page3["items"]] == ["s5"] and page3["next_cursor"] is None

    async def ids(query: str) -> list[str]:
        body = await ok(await client.get(f"/api/v1/students?{query}", headers=STAFF))
        return [s["student_id"] for s in body["items"]]

    assert await ids("list=Active") == ["s1", "s3", "s5"]
    assert await ids("section_id=MATH101-01&list=Active") == ["s1", "s3"]
    assert await ids("q=last4") == ["s4"]
    assert await ids("q=First2%20Last2") == ["s2"]
    assert await ids("q=s5@EXAMPLE") == ["s5"]
    assert await ids("q=%25") == []  # a literal %, not a wildcard


async def test_sections_reasons_terms(invites):
    client = invites.client
    async with EventTap(invites.settings) as tap:
        await flush_events(invites, tap)
        section = await ok(
            await client.put(
                "/api/v1/sections/BIO-2",
                json={"subject": "BIO", "course": "200", "section": "2", "term": "2025FA",
                      "faculty_ids": ["F9", "F9"], "student_ids": ["s5", "s4", "s5"]},
                headers=STAFF,
            )
        )  # fmt: skip
        events = await flush_events(invites, tap)
    assert section["student_ids"] == ["s4", "s5"] and section["faculty_ids"] == ["F9"]
    assert [e.type for e in events] == ["directory.section_upserted"]
    assert events[0].payload.term_id == "2025FA"
    assert events[0].payload.student_ids == ["s5", "s4"]

    resp = await client.put(
        "/api/v1/sections/BIO-2",
        json={"subject": "BIO", "course": "200", "section": "2", "term": "NOPE",
              "student_ids": ["s1", "ghost"]},
        headers=STAFF,
    )  # fmt: skip
    assert resp.status == 422 and problem_fields(await resp.json()) == {"term", "student_ids"}
    resp = await client.put(
        "/api/v1/terms/T2", json={"name": "X", "starts_on": "2025-05-01", "ends_on": "2025-04-01"},
        headers=STAFF,
    )  # fmt: skip
    assert resp.status == 422
    reasons = await ok(await client.get("/api/v1/reasons", headers=STAFF))
    assert {"reason_id": "exam", "name": "Exam"} in reasons["items"]
    terms = await ok(await client.get("/api/v1/terms", headers=STAFF))
    assert terms["items"][0]["term_id"] == "2025FA"


async def test_openapi_fragment_lists_every_route(invites):
    doc = await ok(await invites.client.get("/openapi.json", headers=STAFF))
    paths = doc["paths"]
    for path, method in [
        ("/api/v1/students:import", "post"),
        ("/api/v1/students", "get"),
        ("/api/v1/students/{student_id}", "put"),
        ("/api/v1/sections", "get"),
        ("/api/v1/sections/{section_id}", "put"),
        ("/api/v1/reasons/{reason_id}", "put"),
        ("/api/v1/terms/{term_id}", "put"),
        ("/api/v1/widgets", "post"),
        ("/api/v1/widgets/{widget_id}", "patch"),
        ("/api/v1/invites", "post"),
        ("/api/v1/invites/preview", "post"),
        ("/api/v1/invites/{invite_id}", "get"),
        ("/api/v1/invites/{invite_id}/cancel", "post"),
        ("/api/v1/duration-rules", "put"),
    ]:
        assert method in paths[path], (path, method)
    assert "InviteIn" in doc["components"]["schemas"]
