"""A compressed answer of a service passes through the proxy as it came."""

from __future__ import annotations

import gzip
import json
from typing import Any

import brotli
import pytest
from aiohttp import web

from tests.integration.gateway import fakes
from tests.integration.gateway.fakes import SLOT, TOKEN

SLOTS_PATH = f"/api/v1/invitations/{TOKEN}/slots"
PLAIN = json.dumps({"items": [SLOT] * 50}).encode()
GZIPPED = gzip.compress(PLAIN, mtime=0)
BROTLI = brotli.compress(PLAIN, quality=5, lgwin=22)


def compressed_when_accepted(coding: str, body: bytes) -> Any:
    """Like search_service: ``coding`` only for a client that accepts it."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if coding in request.headers.get("Accept-Encoding", ""):
            return web.Response(
                body=body,
                headers={"Content-Encoding": coding, "Vary": "Accept-Encoding"},
                content_type="application/json",
            )
        return web.Response(body=PLAIN, content_type="application/json")

    return handler


@pytest.mark.parametrize(("coding", "compressed"), [("gzip", GZIPPED), ("br", BROTLI)])
async def test_compressed_answer_is_passed_through_untouched(
    start_gateway, upstream, coding, compressed
):
    search = await upstream("search")
    search.on("GET", SLOTS_PATH, compressed_when_accepted(coding, compressed))
    client, _ = await start_gateway(search_service_url=search.url)

    resp = await client.get(
        SLOTS_PATH, headers={"Accept-Encoding": "gzip, deflate, br"}, auto_decompress=False
    )
    body = await resp.read()
    assert resp.status == 200
    assert search.seen[-1].headers["Accept-Encoding"] == "gzip, deflate, br"
    assert resp.headers["Content-Encoding"] == coding
    assert resp.headers["Vary"] == "Accept-Encoding"
    # The very bytes of the service, with their length (not decompressed and re-sent).
    assert body == compressed
    assert resp.headers["Content-Length"] == str(len(compressed))
    decoded = gzip.decompress(body) if coding == "gzip" else brotli.decompress(body)
    assert decoded == PLAIN


async def test_client_without_gzip_gets_plain_json(start_gateway, upstream):
    search = await upstream("search")
    search.on("GET", SLOTS_PATH, compressed_when_accepted("gzip", GZIPPED))
    client, _ = await start_gateway(search_service_url=search.url)

    # No Accept-Encoding from the client: the gateway must not ask for gzip on its behalf.
    resp = await client.get(SLOTS_PATH, skip_auto_headers=["Accept-Encoding"])
    assert resp.status == 200
    assert search.seen[-1].headers["Accept-Encoding"] == "identity"
    assert "Content-Encoding" not in resp.headers
    assert await resp.read() == PLAIN


@pytest.mark.parametrize(("coding", "compressed"), [("gzip", GZIPPED), ("br", BROTLI)])
async def test_student_page_reads_a_compressed_answer(start_gateway, upstream, coding, compressed):
    search = await upstream("search")
    fakes.search_service(search)
    search.on("GET", SLOTS_PATH, compressed_when_accepted(coding, compressed))
    client, _ = await start_gateway(search_service_url=search.url)

    page = await client.get(f"/invitations/{TOKEN}")
    assert page.status == 200 and "Wed 02 Jan 2030" in await page.text()
    assert coding in search.seen[-1].headers["Accept-Encoding"]


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
