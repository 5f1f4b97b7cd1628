"""Every ``/api/v1`` route of the merged OpenAPI × {anonymous, student, faculty, staff, admin}.

The documented answer is the ``x-roles`` each route carries in
``/api/v1/openapi.json`` (from ``add_api_route(..., roles=...)``):

- a role the route does not list gets 403; without credentials, 401 — except the
  routes open to ``anonymous`` (login, logout, the OpenAPI) and the student's
  link routes (``student`` listed), which need no account;
- the student's link routes open with a valid link token only (404 otherwise);
  a link token is no API credential anywhere else (401);
- a role the route lists gets the route's documented success status (objects
  in the path exist: a fixture set is made first); never a 5xx.

The OpenAPI must also describe every ``/api/v1`` route the services register.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from shared.runtime import build_service_app
from shared.settings import SERVICE_NAMES
from tests.support.infra import eventually, make_settings
from tests.support.system import Api, System

ANON, STUDENT, FACULTY, STAFF, ADMIN = "anonymous", "student", "faculty", "staff", "admin"
ROLES = (ANON, STUDENT, FACULTY, STAFF, ADMIN)
PEOPLE = (FACULTY, STAFF, ADMIN)
MONDAY = datetime(2031, 3, 3, 13, 0, tzinfo=UTC)  # 08:00 in New York
DUE = "2031-03-07"
PASSWORD = "matrix-password-1"
UNKNOWN_TOKEN = "L" * 32
LINK_ROUTES_PREFIX = "/api/v1/invitations/{token}"
# A repeated action on the same object: the role may, the object says "already".
ALSO_OK: dict[tuple[str, str], set[int]] = {
    ("POST", "/api/v1/invitations/{token}/appointments"): {409},  # the student booked first
    ("POST", "/api/v1/invites/{invite_id}/cancel"): {409},
    ("POST", "/api/v1/appointments/{appointment_id}/cancel"): {409},
}
ADMIN_ONLY = {
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/widgets"),
    ("PATCH", "/api/v1/widgets/{widget_id}"),
    ("PUT", "/api/v1/duration-rules"),
    ("POST", "/api/v1/test/clock"),
}
PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/openapi.json"),
}
# Known deviation, reported: in dev/test (APP_ENV) notify_service lets every signed-in role
# read the built-in mail sink (its ``_check_viewer``); the OpenAPI documents admin/staff, which
# is what production would enforce (where the sink is off altogether). Faculty: 403 or 200.
TEST_MODE_LENIENT: set[tuple[str, str, str]] = set()
# Run first (the booking, so the link's appointment exists) or last (cancellations).
FIRST = {("POST", "/api/v1/invitations/{token}/appointments")}
LAST = {
    ("POST", "/api/v1/invites/{invite_id}/cancel"),
    ("POST", "/api/v1/appointments/{appointment_id}/cancel"),
    ("DELETE", "/api/v1/users/{user_id}/tokens/{token_id}"),
}

_n = itertools.count(1)


@dataclass
class Fixture:
    """The objects the routes' path parameters name, and each role's credentials."""

    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)
    spare_tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    link_token: str = ""
    slot: dict[str, Any] = field(default_factory=dict)


def link_in(text: str) -> str:
    match = re.search(r"https?://\S+/i/([A-Za-z0-9_\-]+)", text)
    assert match, text
    return match.group(1)


async def mail_to(api: Api, address: str) -> list[dict[str, Any]]:
    _, body = await api.call("GET", f"/api/v1/mail/messages?to={address}&limit=100", expect=200)
    return list(body["items"])


async def make_fixture(system: System, admin: Api) -> Fixture:
    fx = Fixture()
    await admin.call("POST", "/api/v1/test/clock", expect=200, json={"now": MONDAY.isoformat()})
    _, center = await admin.call(
        "POST",
        "/api/v1/centers",
        expect=201,
        json={
            "name": "Testing Center",
            "timezone": "America/New_York",
            "slot_interval_minutes": 30,
            "default_appointment_minutes": 60,
        },
    )
    _, consultant = await admin.call(
        "POST", "/api/v1/consultants", expect=201, json={"name": "Dana", "email": "d@example.edu"}
    )
    await admin.call(
        "PUT",
        "/api/v1/terms/spring",
        expect=(200, 201),
        json={"name": "Spring", "starts_on": "2031-01-13", "ends_on": "2031-05-09"},
    )
    await admin.call("PUT", "/api/v1/reasons/exam", expect=(200, 201), json={"name": "Exam"})
    await admin.call("POST", "/api/v1/students:import", expect=(200, 201), json={"items": STUDENTS})
    for section_id, body in SECTIONS.items():
        await admin.call("PUT", f"/api/v1/sections/{section_id}", expect=(200, 201), json=body)
    _, availability = await admin.call(
        "POST", "/api/v1/availabilities", expect=201, json=availability_body(consultant, center)
    )
    _, widget = await admin.call("POST", "/api/v1/widgets", expect=201, json=widget_body(center))
    fx.ids.update(
        center_id=center["id"],
        consultant_id=consultant["id"],
        availability_id=availability["id"],
        widget_id=widget["id"],
        section_id="m101",
        student_id="S2",  # on the faculty member's roster
        reason_id="exam",
        term_id="spring",
    )

    # People: staff and faculty accounts, a login-only account, API tokens for each role.
    _, me = await admin.call("GET", "/api/v1/auth/me", expect=200)
    fx.user_ids[ADMIN] = me["id"]
    for role, username, extra in (
        (STAFF, "sam", {}),
        (FACULTY, "fay", {"faculty_id": "F1"}),
        (None, "login-only", {}),
    ):
        _, user = await admin.call(
            "POST",
            "/api/v1/users",
            expect=201,
            json={
                "username": username,
                "password": PASSWORD,
                "role": role or STAFF,
                "name": username.title(),
                "email": f"{username}@example.edu",
                **extra,
            },
        )
        if role:
            fx.user_ids[role] = user["id"]
    for role in PEOPLE:
        tokens = []
        for name in ("matrix", "spare"):
            _, token = await admin.call(
                "POST", f"/api/v1/users/{fx.user_ids[role]}/tokens", expect=201, json={"name": name}
            )
            tokens.append(token)
        fx.headers[role] = {"Authorization": f"Bearer {tokens[0]['token']}"}
        fx.spare_tokens[role] = tokens[1]["id"]
    fx.headers[ANON] = {}
    fx.headers[STUDENT] = {}

    # A staff invite: S3 books at once (the appointment), S1's link is the student's.
    _, invite = await admin.call(
        "POST",
        "/api/v1/invites",
        expect=201,
        json={"widget_id": widget["id"], "student_ids": ["S1", "S3"], "due_date": DUE},
    )
    assert len(invite["invitees"]) == 2
    links: dict[str, str] = {}
    for sid, email in (("S1", "s1@example.edu"), ("S3", "s3@example.edu")):
        mails = await eventually(
            functools.partial(mail_to, admin, email),
            lambda m: len(m) >= 1,
            timeout=30,
            message=f"the instructions to {email}",
        )
        links[sid] = link_in(mails[0]["text"])
    fx.link_token = links["S1"]
    async with aiohttp.ClientSession(base_url=system.url) as student:
        slots_path = f"/api/v1/invitations/{links['S3']}/slots?from=2031-03-03&to={DUE}"
        async with student.get(slots_path) as r:
            first = (await r.json())["items"][0]
        async with student.post(
            f"/api/v1/invitations/{links['S3']}/appointments",
            json={"availability_id": first["availability_id"], "starts_at": first["starts_at"]},
        ) as r:
            assert r.status == 201, await r.text()
            fx.ids["appointment_id"] = (await r.json())["id"]
        async with student.get(
            f"/api/v1/invitations/{links['S1']}/slots?from=2031-03-03&to={DUE}"
        ) as r:
            fx.slot = (await r.json())["items"][0]

    # The faculty member's own invite (the one the invite routes name).
    async with aiohttp.ClientSession(base_url=system.url) as faculty:
        async with faculty.post(
            "/api/v1/invites",
            headers=fx.headers[FACULTY],
            json={"widget_id": widget["id"], "student_ids": ["S2"], "due_date": DUE},
        ) as r:
            assert r.status == 201, await r.text()
            fx.ids["invite_id"] = (await r.json())["id"]

    # A report delivery and its email with the attachment.
    _, delivery = await admin.call(
        "POST",
        "/api/v1/reports/appointment-invite-schedule/deliveries",
        expect=202,
        json={"from": "2031-03-01", "to": "2031-03-31", "recipients": "dean@example.edu"},
    )
    fx.ids["delivery_id"] = delivery["id"]
    mails = await eventually(
        lambda: mail_to(admin, "dean@example.edu"),
        lambda m: len(m) >= 1 and bool(m[0]["attachments"]),
        timeout=30,
        message="the report email",
    )
    fx.ids["mail_id"] = str(mails[0]["id"])
    return fx


STUDENTS = [
    {
        "student_id": sid,
        "first_name": first,
        "last_name": "Doe",
        "email": f"{sid.lower()}@example.edu",
        "lists": [],
    }
    for sid, first in (("S1", "Ada"), ("S2", "Alan"), ("S3", "Grace"))
]
SECTIONS = {
    "m101": {
        "subject": "MATH",
        "course": "101",
        "section": "01",
        "term": "spring",
        "faculty_ids": ["F1"],
        "student_ids": ["S1", "S2"],
    },
    "c201": {
        "subject": "CHEM",
        "course": "201",
        "section": "01",
        "term": "spring",
        "faculty_ids": ["F2"],
        "student_ids": ["S3"],
    },
}


def availability_body(consultant: dict[str, Any], center: dict[str, Any], day: int = 5) -> dict:
    return {
        "consultant_id": consultant["id"],
        "center_id": center["id"],
        "starts_at": f"2031-03-{day:02d}T09:00:00-05:00",
        "ends_at": f"2031-03-{day:02d}T12:00:00-05:00",
        "modality": "in_person",
        "kind": "one_on_one",
        "capacity": 1,
        "section_ids": [],
        "reason_ids": [],
    }


def widget_body(center: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"Exams {next(_n)}",
        "center_ids": [center["id"]],
        "is_invitation": True,
        "hide_on_dashboard": True,
        "invitation_types": "Exam; Pop Quiz",
        "send_instructions_days": 7,
        "invitation_instructions": "Hello {{ student.first_name }}: {{ link }}",
        "ask_fields": ["type"],
        "reminder_every_days": 2,
        "reminder_text": "Reminder.",
    }


def requests_for(fx: Fixture) -> dict[tuple[str, str], tuple[Any, dict[str, str] | None]]:
    """(method, OpenAPI path) → (JSON body or a factory of one, query string)."""
    ids = fx.ids
    center = {"id": ids["center_id"]}
    consultant = {"id": ids["consultant_id"]}
    days = itertools.count(10)
    student = {k: v for k, v in STUDENTS[1].items() if k != "student_id"}
    window = {"from": "2031-03-01", "to": "2031-03-31"}
    return {
        ("GET", "/api/v1/appointments"): (None, window),
        ("GET", "/api/v1/appointments/{appointment_id}"): (None, None),
        ("PATCH", "/api/v1/appointments/{appointment_id}"): ({"attendance": "attended"}, None),
        ("POST", "/api/v1/appointments/{appointment_id}/cancel"): ({}, None),
        ("POST", "/api/v1/auth/login"): ({"username": "login-only", "password": PASSWORD}, None),
        ("POST", "/api/v1/auth/logout"): (None, None),
        ("GET", "/api/v1/auth/me"): (None, None),
        ("POST", "/api/v1/availabilities"): (
            lambda: availability_body(consultant, center, next(days)),
            None,
        ),
        ("GET", "/api/v1/availabilities"): (None, None),
        ("GET", "/api/v1/availabilities/{availability_id}"): (None, None),
        ("POST", "/api/v1/centers"): (
            lambda: {"name": f"Center {next(_n)}", "timezone": "America/New_York"},
            None,
        ),
        ("GET", "/api/v1/centers"): (None, None),
        ("GET", "/api/v1/centers/{center_id}"): (None, None),
        ("PATCH", "/api/v1/centers/{center_id}"): ({"name": "Testing Center"}, None),
        ("POST", "/api/v1/consultants"): (
            lambda: {"name": f"Consultant {next(_n)}", "email": "c@example.edu"},
            None,
        ),
        ("GET", "/api/v1/consultants"): (None, None),
        ("GET", "/api/v1/consultants/{consultant_id}"): (None, None),
        ("GET", "/api/v1/duration-rules"): (None, None),
        ("PUT", "/api/v1/duration-rules"): ([], None),
        ("GET", "/api/v1/invitations/{token}"): (None, None),
        ("GET", "/api/v1/invitations/{token}/appointment"): (None, None),
        ("POST", "/api/v1/invitations/{token}/appointments"): (
            {"availability_id": fx.slot["availability_id"], "starts_at": fx.slot["starts_at"]},
            None,
        ),
        ("GET", "/api/v1/invitations/{token}/slots"): (None, {"from": "2031-03-03", "to": DUE}),
        ("POST", "/api/v1/invites"): (
            {"widget_id": ids["widget_id"], "student_ids": ["S2"], "due_date": DUE},
            None,
        ),
        ("GET", "/api/v1/invites"): (None, None),
        ("POST", "/api/v1/invites/preview"): (
            {"widget_id": ids["widget_id"], "student_id": "S2", "due_date": DUE},
            None,
        ),
        ("GET", "/api/v1/invites/{invite_id}"): (None, None),
        ("POST", "/api/v1/invites/{invite_id}/cancel"): ({}, None),
        ("GET", "/api/v1/mail/messages"): (None, None),
        ("GET", "/api/v1/mail/messages/{id}"): (None, None),
        ("GET", "/api/v1/mail/messages/{id}/attachments/{n}"): (None, None),
        ("GET", "/api/v1/mail/messages/{id}/raw"): (None, None),
        ("GET", "/api/v1/openapi.json"): (None, None),
        ("GET", "/api/v1/reasons"): (None, None),
        ("PUT", "/api/v1/reasons/{reason_id}"): ({"name": "Exam"}, None),
        ("GET", "/api/v1/reports/appointment-invite-schedule"): (None, window),
        ("POST", "/api/v1/reports/appointment-invite-schedule/deliveries"): (
            {**window, "recipients": "registrar@example.edu"},
            None,
        ),
        ("GET", "/api/v1/reports/deliveries/{id}"): (None, None),
        ("GET", "/api/v1/sections"): (None, None),
        ("PUT", "/api/v1/sections/{section_id}"): (SECTIONS["m101"], None),
        ("GET", "/api/v1/sections/{section_id}"): (None, None),
        ("GET", "/api/v1/students"): (None, None),
        ("PUT", "/api/v1/students/{student_id}"): (student, None),
        ("GET", "/api/v1/students/{student_id}"): (None, None),
        ("POST", "/api/v1/students:import"): ({"items": [STUDENTS[1]]}, None),
        ("GET", "/api/v1/terms"): (None, None),
        ("PUT", "/api/v1/terms/{term_id}"): (
            {"name": "Spring", "starts_on": "2031-01-13", "ends_on": "2031-05-09"},
            None,
        ),
        ("POST", "/api/v1/test/clock"): ({"now": MONDAY.isoformat()}, None),
        ("POST", "/api/v1/users"): (
            lambda: {
                "username": f"made{next(_n)}",
                "password": PASSWORD,
                "role": "staff",
                "name": "Made",
                "email": "made@example.edu",
            },
            None,
        ),
        ("GET", "/api/v1/users"): (None, None),
        ("GET", "/api/v1/users/{user_id}"): (None, None),
        ("PATCH", "/api/v1/users/{user_id}"): ({"name": "Renamed"}, None),
        ("POST", "/api/v1/users/{user_id}/tokens"): ({"name": "another"}, None),
        ("DELETE", "/api/v1/users/{user_id}/tokens/{token_id}"): (None, None),
        ("POST", "/api/v1/widgets"): (lambda: widget_body(center), None),
        ("GET", "/api/v1/widgets"): (None, None),
        ("GET", "/api/v1/widgets/{widget_id}"): (None, None),
        ("PATCH", "/api/v1/widgets/{widget_id}"): ({"name": "Exams"}, None),
    }


def fill_path(path: str, fx: Fixture, role: str, token: str) -> str:
    """The OpenAPI path with existing objects (a person's own account for user routes)."""
    own_user = fx.user_ids.get(role, fx.user_ids[STAFF])
    values = {
        **fx.ids,
        "token": token,
        "user_id": own_user,
        "token_id": fx.spare_tokens.get(role, "none"),
        "n": "0",
        "id": fx.ids["delivery_id"] if path.startswith("/api/v1/reports") else fx.ids["mail_id"],
    }

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"no fixture value for {{{name}}} in {path}"
        return values[name]

    return re.sub(r"{([^}]+)}", value, path)


def registered_routes() -> set[tuple[str, str]]:
    """Every ``/api/v1`` route the services (and the gateway) register in their routers."""
    settings = make_settings()
    found: set[tuple[str, str]] = set()
    for name in (*SERVICE_NAMES, "gateway"):
        spec = importlib.import_module(f"services.{name}.app").SPEC
        app = build_service_app(spec, settings)
        for route in app.router.routes():
            path = route.resource.canonical if route.resource is not None else ""
            if not path.startswith("/api/v1/") or route.method in ("HEAD", "*"):
                continue
            found.add((route.method, path))
    return found


async def test_every_route_for_every_role_gives_the_documented_answer(
    system: System, admin: Api
) -> None:
    _, doc = await admin.call("GET", "/api/v1/openapi.json", expect=200)
    assert not doc["info"].get("x-unavailable-services"), doc["info"]
    documented = {
        (method.upper(), path): op
        for path, operations in doc["paths"].items()
        for method, op in operations.items()
    }
    # The documentation itself says what API.md says about who may do what.
    for key in ADMIN_ONLY:
        assert documented[key]["x-roles"] == [ADMIN], (key, documented[key]["x-roles"])
    for key, op in documented.items():
        opened = {ANON, STUDENT} & set(op["x-roles"])
        if key in PUBLIC:
            assert opened == {ANON}, key
        elif key[1].startswith(LINK_ROUTES_PREFIX):
            assert opened == {STUDENT}, key
        else:
            assert not opened, key
    # No holes: the OpenAPI describes every /api/v1 route registered anywhere.
    missing = registered_routes() - set(documented)
    assert not missing, f"registered but not in the OpenAPI: {sorted(missing)}"

    fx = await make_fixture(system, admin)
    requests = requests_for(fx)
    unplanned = set(documented) - set(requests)
    assert not unplanned, f"routes without a request in this matrix: {sorted(unplanned)}"

    def order(key: tuple[str, str]) -> tuple[int, str, str]:
        return (0 if key in FIRST else 2 if key in LAST else 1, key[1], key[0])

    wrong: list[str] = []
    seen = 0
    async with aiohttp.ClientSession(
        base_url=system.url, cookie_jar=aiohttp.DummyCookieJar()
    ) as http:

        async def send(
            method: str, path: str, body: Any, query: dict[str, str] | None, role: str
        ) -> tuple[int, str]:
            payload = body() if callable(body) else body
            async with http.request(
                method, path, json=payload, params=query, headers=fx.headers[role]
            ) as r:
                return r.status, (await r.text())[:300]

        for key in sorted(documented, key=order):
            method, path = key
            op = documented[key]
            roles = set(op.get("x-roles") or [])
            body, query = requests[key]
            success = int(next(code for code in op["responses"] if code.startswith("2")))
            allowed_answers = {success} | ALSO_OK.get(key, set())
            link_route = path.startswith(LINK_ROUTES_PREFIX)
            for role in ROLES:
                token = fx.link_token
                if link_route and role == ANON:
                    token, expected = UNKNOWN_TOKEN, {404}  # no valid token: nothing opens
                elif link_route and role == STUDENT and key in FIRST:
                    expected = {success}  # the student books first
                elif link_route or ANON in roles or role in roles:
                    expected = allowed_answers  # the link token is the key, whoever holds it
                else:
                    expected = {401} if role in (ANON, STUDENT) else {403}
                if (role, method, path) in TEST_MODE_LENIENT:
                    expected = expected | allowed_answers
                status, text = await send(
                    method, fill_path(path, fx, role, token), body, query, role
                )
                seen += 1
                if status >= 500 or status not in expected:
                    wrong.append(f"{method} {path} as {role}: {status} (want {expected}) {text}")
            if link_route:
                # A member of staff holding a wrong token gets nothing either.
                status, text = await send(
                    method, fill_path(path, fx, STAFF, UNKNOWN_TOKEN), body, query, STAFF
                )
                seen += 1
                if status != 404:
                    wrong.append(f"{method} {path} as staff, unknown token: {status} {text}")

        # The link token is no API credential.
        async with http.get(
            "/api/v1/students", headers={"Authorization": f"Bearer {fx.link_token}"}
        ) as r:
            if r.status != 401:
                wrong.append(f"link token as a Bearer credential: {r.status}")
        # "Admin or self": another person's account is refused.
        async with http.get(f"/api/v1/users/{fx.user_ids[ADMIN]}", headers=fx.headers[STAFF]) as r:
            if r.status != 403:
                wrong.append(f"staff reading the admin's account: {r.status}")

    assert not wrong, f"{len(wrong)} of {seen} answers differ:\n" + "\n".join(wrong)
    assert seen >= len(documented) * len(ROLES)
