"""``/i/{token}``: to the search page before booking, to the appointment after, else 404."""

from __future__ import annotations

from tests.integration.gateway.support import DEAD

INVITED, BOOKED, CANCELLED, UNKNOWN = "I" * 32, "B" * 32, "C" * 32, "U" * 32


async def test_links_redirect_by_status(start_gateway, upstream):
    search = await upstream("search")
    base = {"type": "Exam", "due_date": "2030-01-10", "appointment_id": None}
    search.reply("GET", f"/api/v1/invitations/{INVITED}", {**base, "status": "invited"})
    search.reply(
        "GET", f"/api/v1/invitations/{BOOKED}", {**base, "status": "booked", "appointment_id": "a"}
    )
    search.reply("GET", f"/api/v1/invitations/{CANCELLED}", {**base, "status": "cancelled"})
    search.reply("GET", f"/api/v1/invitations/{UNKNOWN}", {"detail": "no"}, status=404)
    client, _ = await start_gateway(search_service_url=search.url)

    resp = await client.get(f"/i/{INVITED}", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/invitations/{INVITED}"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    resp = await client.get(f"/i/{BOOKED}", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == f"/invitations/{BOOKED}/appointment"
    assert search.seen[-1].identity["role"] == "student"

    pages = []
    for token in (CANCELLED, UNKNOWN, "not-a-token!"):
        resp = await client.get(f"/i/{token}", allow_redirects=False)
        assert resp.status == 404 and resp.content_type == "text/html"
        pages.append(await resp.text())
    # The same page whatever the reason: nothing is revealed.
    assert pages[0] == pages[1] == pages[2]
    assert "not valid" in pages[0]


async def test_link_when_search_is_down_is_a_503_page(start_gateway):
    client, _ = await start_gateway(search_service_url=DEAD)
    resp = await client.get(f"/i/{INVITED}", allow_redirects=False)
    assert resp.status == 503 and resp.content_type == "text/html"
