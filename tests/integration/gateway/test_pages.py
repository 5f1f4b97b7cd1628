"""The web pages against stand-in services: login, the invite journey, the student's link."""

from __future__ import annotations

import json

from aiohttp import web

from tests.integration.gateway import fakes
from tests.integration.gateway.fakes import SLOT, TOKEN
from tests.integration.gateway.support import ADMIN, create_user, login


async def page_login(client, username: str, password: str):
    return await client.post(
        "/login",
        data={"username": username, "password": password, "next": ""},
        allow_redirects=False,
    )


async def test_login_page_sets_the_session_and_goes_home(start_gateway):
    client, _ = await start_gateway()
    resp = await client.get("/students", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login?next=%2Fstudents"
    page = await client.get("/login?next=/students")
    html = await page.text()
    assert page.status == 200 and '<label for="username">' in html
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]

    wrong = await page_login(client, "admin", "not-it-at-all")
    assert wrong.status == 401 and "Wrong username or password" in await wrong.text()
    resp = await client.post(
        "/login",
        data={"username": "admin", "password": ADMIN[1], "next": "https://evil.example"},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/students"
    home = await client.get("/", allow_redirects=False)
    assert home.headers["Location"] == "/students"


async def test_staff_invite_journey(start_gateway, upstream):
    invite = await upstream("invite")
    fakes.invite_service(invite)
    client, _ = await start_gateway(invite_service_url=invite.url)
    me = await login(client, *ADMIN)
    csrf = me["csrf_token"]

    listing = await client.get("/students?q=Ann")
    html = await listing.text()
    assert listing.status == 200 and "Ann0 Lee" in html and "Create Appointment Invite" in html
    assert invite.seen[0].path_qs.startswith("/api/v1/students?q=Ann")

    choose = await client.post(
        "/invites/new", data={"csrf_token": csrf, "student_id": ["S0", "S1"], "back": "/students"}
    )
    html = await choose.text()
    assert choose.status == 200 and "Testing Center" in html and "<strong>2</strong>" in html

    form_page = await client.post(
        "/invites/new",
        data={"csrf_token": csrf, "student_ids": "S0,S1", "widget_id": "w1", "back": "/students"},
    )
    html = await form_page.text()
    assert form_page.status == 200
    # Exactly the widget's asked fields, and the email text from the widget.
    for field in (
        'id="type"',
        'id="section_id"',
        'id="duration_minutes"',
        'id="exam_code"',
        'name="group"',
        'name="online"',
        'name="in_person"',
    ):
        assert field in html, field
    for absent in ('id="reason_id"', 'id="exam_passcode"', 'id="notes"', 'name="one_on_one"'):
        assert absent not in html, absent
    assert "Hello {{ student.first_name }}</textarea>" in html
    assert "Creating invitations for 2 students" in html

    form = {
        "csrf_token": csrf,
        "student_ids": "S0,S1",
        "widget_id": "w1",
        "asked": ",".join(fakes.WIDGET["ask_fields"]),
        "due_date": "2030-01-10",
        "type": "Exam",
        "duration_minutes": "90",
        "group": "on",
        "in_person": "on",
        "widget_submitted": "1",
        "email_text": "Hi",
        "preview_student_id": "S1",
    }
    preview = await client.post("/invites/preview", data=form)
    assert preview.status == 200 and (await preview.json())["text"] == "Hello Ann0"
    assert json.loads(invite.seen[-1].body)["student_id"] == "S1"

    created = await client.post("/invites/create", data=form, allow_redirects=False)
    assert created.status == 303 and created.headers["Location"] == "/invites/i1?created=2"
    sent = json.loads(invite.seen[-1].body)
    assert sent["student_ids"] == ["S0", "S1"] and sent["duration_minutes"] == 90
    assert sent["modalities"] == {"group": True, "online": False, "in_person": True}
    assert "exam_passcode" not in sent and "reason_id" not in sent
    assert invite.seen[-1].identity["role"] == "admin"

    # A missing due date is shown on the form, not sent.
    before = len(invite.seen)
    bad = await client.post("/invites/create", data={**form, "due_date": ""})
    assert bad.status == 422 and "is required" in await bad.text()
    assert not any(
        s.method == "POST" and s.path_qs == "/api/v1/invites" for s in invite.seen[before:]
    )


async def test_page_forms_need_the_csrf_token(start_gateway, upstream):
    invite = await upstream("invite")
    fakes.invite_service(invite)
    client, _ = await start_gateway(invite_service_url=invite.url)
    await login(client, *ADMIN)
    resp = await client.post("/invites/new", data={"student_id": "S0"})
    assert resp.status == 403


async def test_faculty_pages_and_staff_only_pages(start_gateway, upstream):
    invite = await upstream("invite")
    fakes.invite_service(invite)
    client, _ = await start_gateway(invite_service_url=invite.url)
    await login(client, *ADMIN)
    await create_user(client, "faculty", "fay", faculty_id="F1")
    await client.post("/api/v1/auth/logout")
    resp = await page_login(client, "fay", "fay-password")
    assert resp.headers["Location"] == "/faculty/sections"
    sections = await client.get("/faculty/sections")
    assert "MATH 101-A" in await sections.text()
    roster = await client.get("/faculty/sections/SEC1")
    assert roster.status == 200 and "Ann1 Lee" in await roster.text()
    assert invite.seen[-1].identity["faculty_id"] == "F1"
    staff_only = await client.get("/students")
    assert staff_only.status == 403


async def test_student_search_confirm_book_and_appointment(start_gateway, upstream):
    search = await upstream("search")
    fakes.search_service(search)
    booked: list[dict] = []

    async def book(request: web.Request) -> web.StreamResponse:
        booked.append(await request.json())
        if len(booked) > 1:
            return web.json_response({"detail": "taken"}, status=409)
        return web.json_response({"id": "ap1"}, status=201)

    search.on("POST", f"/api/v1/invitations/{TOKEN}/appointments", book)
    client, _ = await start_gateway(search_service_url=search.url)

    page = await client.get(f"/invitations/{TOKEN}")
    html = await page.text()
    assert page.status == 200 and "Bring your ID" in html and "Wed 02 Jan 2030" in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert search.seen[-1].identity["role"] == "student"

    choice = f"{SLOT['availability_id']}|{SLOT['starts_at']}"
    confirm = await client.get(f"/invitations/{TOKEN}/confirm", params={"slot": choice})
    html = await confirm.text()
    assert confirm.status == 200 and "Confirm appointment" in html and "Kim" in html

    gone = await client.get(
        f"/invitations/{TOKEN}/confirm", params={"slot": "zz|" + SLOT["starts_at"]}
    )
    assert gone.status == 409 and "no longer available" in await gone.text()

    data = {"availability_id": "a1", "starts_at": SLOT["starts_at"]}
    done = await client.post(f"/invitations/{TOKEN}/book", data=data, allow_redirects=False)
    assert done.status == 303
    assert done.headers["Location"] == f"/invitations/{TOKEN}/appointment?booked=1"
    assert booked[0] == data
    appointment = await client.get(f"/invitations/{TOKEN}/appointment?booked=1")
    assert "Your appointment is booked" in await appointment.text()

    again = await client.post(f"/invitations/{TOKEN}/book", data=data, allow_redirects=False)
    assert again.status == 409 and "just taken" in await again.text()


async def test_student_search_without_times_says_so(start_gateway, upstream):
    search = await upstream("search")
    fakes.search_service(search)
    search.reply("GET", f"/api/v1/invitations/{TOKEN}/slots", {"items": []})
    soon = {**fakes.INVITATION, "due_date": "2000-01-01"}
    search.reply("GET", f"/api/v1/invitations/{TOKEN}", soon)
    client, _ = await start_gateway(search_service_url=search.url)
    html = await (await client.get(f"/invitations/{TOKEN}")).text()
    assert "No times are available before the due date" in html


async def test_booked_link_opens_the_appointment(start_gateway, upstream):
    search = await upstream("search")
    fakes.search_service(search, {**fakes.INVITATION, "status": "booked", "appointment_id": "ap1"})
    client, _ = await start_gateway(search_service_url=search.url)
    resp = await client.get(f"/invitations/{TOKEN}", allow_redirects=False)
    assert resp.headers["Location"] == f"/invitations/{TOKEN}/appointment"
    page = await client.get(f"/i/{TOKEN}")
    assert page.status == 200 and "Your appointment" in await page.text()
