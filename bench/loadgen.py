"""The load generator: an asyncio aiohttp client run as its OWN process.

    python -m bench.loadgen SPEC.json RESULT.json

SPEC: {"mode": "duration" | "once", "concurrency": 50, "duration": 20, "warmup": 1,
       "requests": [{"method": "GET", "url": "http://...", "json": {...}?}, ...]}

- ``duration``: ``concurrency`` closed-loop clients, each sending its next request
  as soon as the previous answer was read in full, cycling through ``requests``
  (client i starts at request i); requests completed during the first ``warmup``
  seconds are not counted.
- ``once``: every request exactly once, ``concurrency`` at a time.

RESULT: count, elapsed, throughput (answers/s), latency percentiles (ms), status
counts, bytes read, the answers' Content-Encodings, and the per-request statuses for
``once``.

Like a browser, every request says ``Accept-Encoding: gzip, deflate, br``; ``bytes``
counts what came over the wire. Bodies are not decompressed: a browser does that on
the student's machine, while here 50 clients' inflating would take the cores the
system under test runs on.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

import aiohttp

from bench.stats import percentile

# What Chromium and Firefox send.
BROWSER_HEADERS = {"Accept-Encoding": "gzip, deflate, br"}


async def _send(
    session: aiohttp.ClientSession, req: dict[str, Any], encodings: Counter[str]
) -> tuple[int, int]:
    async with session.request(req["method"], req["url"], json=req.get("json")) as resp:
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
        encodings[resp.headers.get("Content-Encoding", "identity")] += 1
        return resp.status, size


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    requests: list[dict[str, Any]] = spec["requests"]
    concurrency: int = spec["concurrency"]
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=spec.get("timeout", 60))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    encodings: Counter[str] = Counter()
    per_request: list[int] = [0] * len(requests) if spec["mode"] == "once" else []
    total_bytes = 0

    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=BROWSER_HEADERS, auto_decompress=False
    ) as session:
        if spec["mode"] == "duration":
            duration = float(spec["duration"])
            warmup = float(spec.get("warmup", 0))
            started = time.perf_counter()
            measure_from = started + warmup
            deadline = measure_from + duration

            async def client(offset: int) -> None:
                nonlocal total_bytes
                i = offset
                while True:
                    t0 = time.perf_counter()
                    if t0 >= deadline:
                        return
                    req = requests[i % len(requests)]
                    i += concurrency
                    try:
                        status, size = await _send(session, req, encodings)
                    except Exception as exc:  # counted, never fatal for the run
                        status, size = 0, 0
                        errors[type(exc).__name__] += 1
                    t1 = time.perf_counter()
                    if t0 >= measure_from and t1 <= deadline:
                        latencies.append((t1 - t0) * 1000)
                        statuses[status] += 1
                        total_bytes += size

            await asyncio.gather(*(client(n) for n in range(concurrency)))
            elapsed = duration
        else:
            queue: asyncio.Queue[int] = asyncio.Queue()
            for n in range(len(requests)):
                queue.put_nowait(n)

            async def worker() -> None:
                nonlocal total_bytes
                while not queue.empty():
                    n = queue.get_nowait()
                    t0 = time.perf_counter()
                    try:
                        status, size = await _send(session, requests[n], encodings)
                    except Exception as exc:
                        status, size = 0, 0
                        errors[type(exc).__name__] += 1
                    latencies.append((time.perf_counter() - t0) * 1000)
                    statuses[status] += 1
                    per_request[n] = status
                    total_bytes += size

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started

    count = len(latencies)
    return {
        "count": count,
        "elapsed": elapsed,
        "throughput": count / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else float("nan"),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": dict(errors),
        "bytes": total_bytes,
        "encodings": dict(encodings),
        "per_request": per_request,
    }


def main() -> None:
    spec_path, result_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        spec = json.load(f)
    result = asyncio.run(run(spec))
    with open(result_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
