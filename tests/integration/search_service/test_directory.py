"""Centers, consultants and availabilities through the staff API."""

from __future__ import annotations

from services.search_service.app import SPEC
from tests.integration.search_service.helpers import (
    DAY,
    STAFF,
    STUDENT,
    clock,
    make_center,
    make_consultant,
)
from tests.support.infra import EventTap, headers_for, problem_fields, service_db


async def test_centers_emit_center_upserted_and_validate(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    async with EventTap(settings, ("center.upserted",)) as tap:
        center = await make_center(client, name="Writing", slot_interval_minutes=15)
        assert center["default_appointment_minutes"] == 60
        first = (await tap.wait_for("center.upserted"))[0].payload
        assert (first.center_id, first.name, first.timezone) == (
            center["id"],
            "Writing",
            "America/New_York",
        )
        resp = await client.patch(
            f"/api/v1/centers/{center['id']}", json={"timezone": "Europe/Paris"}, headers=STAFF
        )
        assert resp.status == 200 and (await resp.json())["timezone"] == "Europe/Paris"
        changed = (await tap.wait_for("center.upserted", 2))[1].payload
        assert changed.timezone == "Europe/Paris" and changed.slot_interval_minutes == 15

    bad = await client.post(
        "/api/v1/centers", json={"name": "X", "timezone": "Mars/Olympus"}, headers=STAFF
    )
    assert bad.status == 422 and problem_fields(await bad.json()) == {"timezone"}
    extra = await client.post(
        "/api/v1/centers", json={"name": "X", "timezone": "UTC", "colour": "red"}, headers=STAFF
    )
    assert extra.status == 422
    assert (await client.get("/api/v1/centers/none", headers=STAFF)).status == 404
    student = await client.post(
        "/api/v1/centers", json={"name": "X", "timezone": "UTC"}, headers=STUDENT
    )
    assert student.status == 403
    assert (await client.get("/api/v1/centers")).status == 401
    fixed = await make_center(client, id="main-center", timezone="UTC")
    dup = await client.post(
        "/api/v1/centers", json={"id": fixed["id"], "name": "Y", "timezone": "UTC"}, headers=STAFF
    )
    assert dup.status == 409
    listing = await client.get("/api/v1/centers", params={"limit": "1"}, headers=STAFF)
    page = await listing.json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    nxt = await client.get(
        "/api/v1/centers", params={"limit": "1", "cursor": page["next_cursor"]}, headers=STAFF
    )
    assert (await nxt.json())["items"][0]["id"] != page["items"][0]["id"]
    faculty = await client.get("/api/v1/centers", headers=headers_for("faculty", "f1"))
    assert faculty.status == 200


async def test_bulk_availabilities_are_all_or_nothing_naming_bad_items(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    center = await make_center(client)
    consultant = await make_consultant(client)

    def item(start: str, end: str, **fields):
        return {
            "consultant_id": consultant["id"],
            "center_id": center["id"],
            "starts_at": f"{DAY}T{start}:00-05:00",
            "ends_at": f"{DAY}T{end}:00-05:00",
            **fields,
        }

    bad = await client.post(
        "/api/v1/availabilities",
        json={
            "items": [
                item("09:00", "10:00"),
                item("10:00", "11:00", center_id="nowhere"),
                item("12:00", "11:00"),
                item("13:00", "14:00", capacity=0),
            ]
        },
        headers=STAFF,
    )
    assert bad.status == 422
    fields = problem_fields(await bad.json())
    assert "items.2" in fields and "items.3.capacity" in fields
    unknown = await client.post(
        "/api/v1/availabilities",
        json={"items": [item("09:00", "10:00"), item("10:00", "11:00", center_id="nowhere")]},
        headers=STAFF,
    )
    assert unknown.status == 422
    assert problem_fields(await unknown.json()) == {"items.1.center_id"}
    naive = await client.post(
        "/api/v1/availabilities",
        json={**item("09:00", "10:00"), "starts_at": f"{DAY}T09:00:00"},
        headers=STAFF,
    )
    assert naive.status == 422 and problem_fields(await naive.json()) == {"starts_at"}

    conn = await service_db(settings, "search_service")
    try:
        assert await conn.fetchval("SELECT count(*) FROM availabilities") == 0
    finally:
        await conn.close()

    good = await client.post(
        "/api/v1/availabilities",
        json={
            "items": [
                item("09:00", "10:00", section_ids=["S1"]),
                item("10:00", "12:00", kind="group", capacity=4, modality="online"),
            ]
        },
        headers=STAFF,
    )
    assert good.status == 201
    created = (await good.json())["items"]
    assert [a["starts_at"] for a in created] == [
        f"{DAY}T09:00:00-05:00",
        f"{DAY}T10:00:00-05:00",
    ]
    assert created[0]["section_ids"] == ["S1"] and created[1]["capacity"] == 4
    assert created[1]["consultant"]["name"] == consultant["name"]

    listing = await client.get(
        "/api/v1/availabilities",
        params={"from": DAY, "to": DAY, "center_id": center["id"], "limit": "1"},
        headers=STAFF,
    )
    page = await listing.json()
    assert [a["id"] for a in page["items"]] == [created[0]["id"]]
    second = await client.get(
        "/api/v1/availabilities",
        params={"from": DAY, "to": DAY, "limit": "1", "cursor": page["next_cursor"]},
        headers=STAFF,
    )
    assert [a["id"] for a in (await second.json())["items"]] == [created[1]["id"]]
    bad_cursor = await client.get("/api/v1/availabilities", params={"cursor": "!!"}, headers=STAFF)
    assert bad_cursor.status == 422


async def test_every_public_route_is_in_the_openapi_fragment(settings, start_service):
    client, _ = await start_service(SPEC, settings, clock())
    doc = await (await client.get("/openapi.json", headers=STAFF)).json()
    assert {
        "/api/v1/centers",
        "/api/v1/centers/{center_id}",
        "/api/v1/consultants",
        "/api/v1/availabilities",
        "/api/v1/invitations/{token}",
        "/api/v1/invitations/{token}/slots",
        "/api/v1/invitations/{token}/appointments",
        "/api/v1/invitations/{token}/appointment",
        "/api/v1/appointments",
        "/api/v1/appointments/{appointment_id}",
        "/api/v1/appointments/{appointment_id}/cancel",
    } <= set(doc["paths"])
