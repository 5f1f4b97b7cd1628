"""Many rows stream in chunks (the 200,000-row measurement is bench/report_csv.py)."""

from __future__ import annotations

from services.report_service.app import SPEC
from tests.integration.report_service.conftest import STAFF, parse_csv
from tests.integration.report_service.seed import SEED_FROM, SEED_TO, seed_rows
from tests.support.infra import eventually

PATH = "/api/v1/reports/appointment-invite-schedule"
COUNT = 3000


async def test_many_rows_stream_as_csv_and_html(settings, start_service):
    client, runtime = await start_service(SPEC, settings)
    async with runtime.db.acquire() as conn:
        await seed_rows(conn, COUNT)
    params = {"from": SEED_FROM, "to": SEED_TO}

    resp = await client.get(PATH, params={**params, "format": "csv"}, headers=STAFF)
    assert resp.status == 200
    assert resp.headers.get("Transfer-Encoding") == "chunked"
    chunks = 0
    body = bytearray()
    async for chunk in resp.content.iter_any():
        chunks += 1
        body.extend(chunk)
    table = parse_csv(bytes(body))
    assert len(table) == COUNT + 1
    starts = [row[3] for row in table[1:]]
    assert starts == sorted(starts)  # ordered by start (same offset all month)
    assert len(body) > 4 * 64 * 1024 and chunks > 1

    resp = await client.get(
        PATH, params={**params, "group_by": "consultant", "totals": "true"}, headers=STAFF
    )
    html = await resp.text()
    assert resp.headers.get("Transfer-Encoding") == "chunked"
    assert html.count('<tr class="subtotal">') == 12
    assert f"{COUNT} appointments." in html
    assert html.rstrip().endswith("</html>")


async def test_client_hanging_up_mid_stream_leaves_nothing_behind(settings, start_service):
    client, runtime = await start_service(SPEC, settings)
    async with runtime.db.acquire() as conn:
        await seed_rows(conn, COUNT)
    params = {"from": SEED_FROM, "to": SEED_TO, "format": "csv"}
    pool = runtime.db
    for _ in range(3):
        resp = await client.get(PATH, params=params, headers=STAFF)
        await resp.content.readany()  # the first chunk only, then hang up
        resp.close()

    # Every connection comes back to the pool with its cursor's transaction ended.
    await eventually(lambda: _idle_equals_size(pool), timeout=10)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM appointment_rows") == COUNT
        assert not conn.is_in_transaction()
    resp = await client.get(PATH, params=params, headers=STAFF)
    assert len(parse_csv(await resp.read())) == COUNT + 1


async def _idle_equals_size(pool) -> bool:
    return pool.get_idle_size() == pool.get_size()
