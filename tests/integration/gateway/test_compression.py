"""A compressed answer of a service passes through the proxy as it came."""

from __future__ import annotations

import gzip
import json

import brotli
from aiohttp import web

from tests.integration.gateway import fakes
from tests.integration.gateway.fakes import SLOT, TOKEN

SLOTS_PATH = f"/api/v1/invitations/{TOKEN}/slots"
PLAIN = json.dumps({"items": [SLOT] * 50}).encode()
GZIPPED = gzip.compress(PLAIN, mtime=0)
BROTLI = brotli.compress(PLAIN, quality=5, lgwin=22)


async def slots_gzip_when_accepted(request: web.Request) -> web.StreamResponse:
    """Like search_service: gzip only for a client that accepts it."""
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        return web.Response(
            body=GZIPPED,
            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
            content_type="application/json",
        )
    return web.Response(body=PLAIN, content_type="application/json")


async def test_gzip_answer_is_passed_through_untouched(start_gateway, upstream):
    search = await upstream("search")
    search.on("GET", SLOTS_PATH, slots_gzip_when_accepted)
    client, _ = await start_gateway(search_service_url=search.url)

    resp = await client.get(
        SLOTS_PATH, headers={"Accept-Encoding": "gzip, deflate, br"}, auto_decompress=False
    )
    body = await resp.read()
    assert resp.status == 200
    assert search.seen[-1].headers["Accept-Encoding"] == "gzip, deflate, br"
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Vary"] == "Accept-Encoding"
    # The very bytes of the service, with their length (not decompressed and re-sent).
    assert body == GZIPPED
    assert resp.headers["Content-Length"] == str(len(GZIPPED))


async def test_client_without_gzip_gets_plain_json(start_gateway, upstream):
    search = await upstream("search")
    search.on("GET", SLOTS_PATH, slots_gzip_when_accepted)
    client, _ = await start_gateway(search_service_url=search.url)

    # No Accept-Encoding from the client: the gateway must not ask for gzip on its behalf.
    resp = await client.get(SLOTS_PATH, skip_auto_headers=["Accept-Encoding"])
    assert resp.status == 200
    assert search.seen[-1].headers["Accept-Encoding"] == "identity"
    assert "Content-Encoding" not in resp.headers
    assert await resp.read() == PLAIN


async def test_student_page_reads_a_gzip_answer(start_gateway, upstream):
    search = await upstream("search")
    fakes.search_service(search)
    search.on("GET", SLOTS_PATH, slots_gzip_when_accepted)
    client, _ = await start_gateway(search_service_url=search.url)

    page = await client.get(f"/invitations/{TOKEN}")
    assert page.status == 200 and "Wed 02 Jan 2030" in await page.text()
    assert "gzip" in search.seen[-1].headers["Accept-Encoding"]


async def slots_br_when_accepted(request: web.Request) -> web.StreamResponse:
    """Like search_service: brotli for a client that accepts it."""
    if "br" in request.headers.get("Accept-Encoding", ""):
        return web.Response(
            body=BROTLI,
            headers={"Content-Encoding": "br", "Vary": "Accept-Encoding"},
            content_type="application/json",
        )
    return web.Response(body=PLAIN, content_type="application/json")


async def test_brotli_answer_is_passed_through_untouched(start_gateway, upstream):
    search = await upstream("search")
    search.on("GET", SLOTS_PATH, slots_br_when_accepted)
    client, _ = await start_gateway(search_service_url=search.url)

    resp = await client.get(
        SLOTS_PATH, headers={"Accept-Encoding": "gzip, deflate, br"}, auto_decompress=False
    )
    body = await resp.read()
    assert resp.status == 200
    assert search.seen[-1].headers["Accept-Encoding"] == "gzip, deflate, br"
    assert resp.headers["Content-Encoding"] == "br"
    assert resp.headers["Vary"] == "Accept-Encoding"
    assert body == BROTLI and brotli.decompress(body) == PLAIN
    assert resp.headers["Content-Length"] == str(len(BROTLI))


async def test_student_page_reads_a_brotli_answer(start_gateway, upstream):
    search = await upstream("search")
    fakes.search_service(search)
    search.on("GET", SLOTS_PATH, slots_br_when_accepted)
    client, _ = await start_gateway(search_service_url=search.url)

    page = await client.get(f"/invitations/{TOKEN}")
    assert page.status == 200 and "Wed 02 Jan 2030" in await page.text()
    assert "br" in search.seen[-1].headers["Accept-Encoding"]


async def test_an_answer_cut_short_is_a_503_not_a_truncated_200(start_gateway, upstream):
    search = await upstream("search")

    async def cut_short(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = 10_000
        await resp.prepare(request)
        await resp.write(b'{"items": [')
        assert request.transport is not None
        request.transport.close()  # the copy dies mid-answer
        return resp

    search.on("GET", SLOTS_PATH, cut_short)
    client, _ = await start_gateway(search_service_url=search.url)
    resp = await client.get(SLOTS_PATH)
    assert resp.status == 503
    assert (await resp.json())["service"] == "search_service"
