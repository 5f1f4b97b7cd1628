"""Run every performance scenario against a freshly started system on this machine.

    bench/run [--repeat N] [--quick] [--only fanout,search,booking,report,scaleout]

Prints, per scenario, the figure, the same work done by the raw infrastructure in
the same run, their ratio, median and spread over the repetitions, and writes
``bench/results/latest.json``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import booking, fanout, report, search
from bench.harness import ROOT, Bench, Profiler, git_commit, log, machine
from bench.sink import Sink
from bench.stats import summary

SCENARIOS = ("fanout", "scaleout", "search", "booking", "report")


@dataclass(frozen=True)
class Sizes:
    fanout_students: int
    search_consultants: int
    search_weeks: int
    search_students: int
    search_clients: int
    search_seconds: float
    booking_attempts: int
    booking_slots: int
    booking_consultants: int
    booking_clients: int
    report_rows: int


FULL = Sizes(5000, 100, 15, 2000, 50, 20.0, 2000, 200, 20, 100, 200_000)
QUICK = Sizes(300, 10, 3, 200, 50, 5.0, 200, 20, 4, 100, 20_000)


# ------------------------------------------------------------------ summaries
def _fig(
    label: str,
    values: list[float],
    unit: str,
    raw: list[float] | None = None,
    ratio: list[float] | None = None,
    target: str = "",
    ok: bool | None = None,
) -> dict[str, Any]:
    return {
        "figure": label,
        "unit": unit,
        "system": summary(values),
        "raw": summary(raw) if raw is not None else None,
        "ratio": summary(ratio) if ratio is not None else None,
        "target": target,
        "met": ok,
    }


def _median(values: list[float]) -> float:
    return summary(values)["median"] or math.nan


def _others(systems: list[dict[str, Any]]) -> dict[str, Any]:
    """How busy the machine was with work that is not this system's (noise)."""
    return _fig(
        "CPU of other processes during it (cores of 2)",
        [x.get("cpu_cores", {}).get("other", math.nan) for x in systems],
        "",
    )


def summarize_fanout(reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    total = [r["system"]["total_s"] for r in reps]
    raw = [r["raw"]["total_s"] for r in reps]
    ratio = [r["ratio"] for r in reps]
    request = [r["system"]["request_s"] for r in reps]
    dups = [r["system"]["duplicates"] for r in reps]
    return [
        _fig(
            "time until all emails accepted and all in report",
            total,
            "s",
            raw,
            ratio,
            "≤ 1.5× raw",
            _median(ratio) <= 1.5,
        ),
        _fig(
            "emails/s",
            [r["system"]["emails_per_s"] for r in reps],
            "1/s",
            [r["raw"]["emails_per_s"] for r in reps],
        ),
        _fig(
            "POST /api/v1/invites latency", request, "s", target="≤ 1 s", ok=_median(request) <= 1.0
        ),
        _fig("duplicate emails", dups, "", target="0", ok=max(dups) == 0),
        _others([r["system"] for r in reps]),
    ]


def summarize_scaleout(reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    two = [r["two_copies"]["emails_per_s"] for r in reps]
    one = [r["one_copy"]["emails_per_s"] for r in reps]
    ratio = [r["throughput_ratio"] for r in reps]
    dups = [r["two_copies"]["duplicates"] for r in reps]
    complete = all(r["two_copies"]["accepted"] >= r["two_copies"]["invitees"] for r in reps)
    # Judged on the medians: one disturbed repetition on either side must not pair up
    # with a good one of the other and decide alone.
    return [
        _fig(
            "fan-out emails/s, copies (raw column: one copy)",
            two,
            "1/s",
            one,
            ratio,
            "≥ 1.0× one copy (medians)",
            _median(two) >= _median(one),
        ),
        _fig(
            "fan-out: time until all accepted and in report, copies",
            [r["two_copies"]["total_s"] for r in reps],
            "s",
            [r["one_copy"]["total_s"] for r in reps],
        ),
        _fig(
            "duplicate Message-IDs at the sink",
            dups,
            "",
            target="0",
            ok=max(dups) == 0 and complete,
        ),
        _others([r["two_copies"] for r in reps]),
    ]


def summarize_scaleout_booking(
    copies: list[dict[str, Any]], one: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """The booking storm on the system with copies, against the one-copy storm (when
    it ran in the same run)."""
    s = [r["system"] for r in copies]
    one_tp = [r["system"]["throughput"] for r in one] if one else None
    exact = all(
        x["appointments"] == x["slots"] and x["statuses"].get("201", 0) == x["slots"] for x in s
    )
    figures = [
        _fig(
            "booking attempts/s, copies (raw column: one copy)",
            [x["throughput"] for x in s],
            "1/s",
            one_tp,
            [a / b for a, b in zip([x["throughput"] for x in s], one_tp, strict=False)]
            if one_tp
            else None,
        ),
        _fig("booking: appointments (slots), copies", [x["appointments"] for x in s], "",
             target="= slots", ok=exact),
        _fig("booking: overlapping appointments, copies", [x["overlaps"] for x in s], "",
             target="0", ok=max(x["overlaps"] for x in s) == 0),
    ]  # fmt: skip
    return figures


def summarize_search(reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    s = [r["system"] for r in reps]
    r_ = [r["raw"] for r in reps]
    ratio = [r["throughput_ratio"] for r in reps]
    non_200 = [sum(v for k, v in x["statuses"].items() if k != "200") for x in s]
    return [
        _fig(
            "throughput",
            [x["throughput"] for x in s],
            "req/s",
            [x["throughput"] for x in r_],
            ratio,
            "≥ 25% of raw",
            _median(ratio) >= 0.25,
        ),
        _fig("p50 latency", [x["p50_ms"] for x in s], "ms", [x["p50_ms"] for x in r_]),
        _fig(
            "p95 latency",
            [x["p95_ms"] for x in s],
            "ms",
            [x["p95_ms"] for x in r_],
            target="≤ 50 ms",
            ok=_median([x["p95_ms"] for x in s]) <= 50,
        ),
        _fig(
            "search_service time per request p50 (its log)",
            [x["search_service_p50_ms"] for x in s],
            "ms",
        ),
        _fig("p50 latency, ONE client (no queueing)", [x["single_client_p50_ms"] for x in s], "ms"),
        _fig("p95 latency, ONE client (no queueing)", [x["single_client_p95_ms"] for x in s], "ms"),
        _fig("response size", [x["bytes_per_response"] / 1024 for x in s], "KiB"),
        _fig("non-200 answers", non_200, "", target="0", ok=max(non_200) == 0),
        _others(s),
    ]


def summarize_booking(reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    s = [r["system"] for r in reps]
    ratio = [r["throughput_ratio"] for r in reps]
    exact = all(x["appointments"] == x["slots"] for x in s)
    created = all(x["statuses"].get("201", 0) == x["slots"] for x in s)
    unexpected = [sum(v for k, v in x["statuses"].items() if k not in ("201", "409")) for x in s]
    return [
        _fig(
            "booking attempts/s",
            [x["throughput"] for x in s],
            "1/s",
            [r["raw"]["throughput"] for r in reps],
            ratio,
            "≥ 20% of raw",
            _median(ratio) >= 0.20,
        ),
        _fig(
            "appointments (slots)",
            [x["appointments"] for x in s],
            "",
            target="= slots",
            ok=exact and created,
        ),
        _fig(
            "overlapping appointments",
            [x["overlaps"] for x in s],
            "",
            target="0",
            ok=max(x["overlaps"] for x in s) == 0,
        ),
        _fig("p95 latency", [x["p95_ms"] for x in s], "ms"),
        _fig("answers other than 201/409", unexpected, "", target="0", ok=max(unexpected) == 0),
        _others(s),
    ]


def summarize_report(reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    s = [r["system"] for r in reps]
    ratio = [r["rows_ratio"] for r in reps]
    peak = [x["peak_rss_mb"] for x in s]
    complete = all(x["rows"] == x["expected_rows"] for x in s)
    return [
        _fig(
            "CSV rows/s",
            [x["rows_per_s"] for x in s],
            "rows/s",
            [r["raw"]["rows_per_s"] for r in reps],
            ratio,
            "≥ 50% of raw",
            _median(ratio) >= 0.5 and complete,
        ),
        _fig("report service peak RSS (VmHWM)", peak, "MB", target="< 200 MB", ok=max(peak) < 200),
        _fig("rows in the CSV", [x["rows"] for x in s], "", target="all", ok=complete),
        _others(s),
    ]


SUMMARIZERS = {
    "fanout": summarize_fanout,
    "scaleout": summarize_scaleout,
    "search": summarize_search,
    "booking": summarize_booking,
    "report": summarize_report,
}


def _num(value: float | None) -> str:
    if value is None or value != value:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def print_scenario(name: str, figures: list[dict[str, Any]]) -> None:
    print(f"\n== {name}")
    print(f"  {'figure':<52} {'system (median, min–max)':>28} {'raw':>10} {'ratio':>14}  target")
    for f in figures:
        s = f["system"]
        system = f"{_num(s['median'])} {f['unit']} ({_num(s['min'])}–{_num(s['max'])})"
        raw = _num(f["raw"]["median"]) if f["raw"] else ""
        ratio = ""
        if f["ratio"]:
            ratio = f"{_num(f['ratio']['median'])} ±{_num((f['ratio']['spread'] or 0) * 50)}%"
        mark = "" if f["met"] is None else ("  ok" if f["met"] else "  MISSED")
        print(f"  {f['figure']:<52} {system:>28} {raw:>10} {ratio:>14}  {f['target']}{mark}")


# ------------------------------------------------------------------ the run
@contextlib.asynccontextmanager
async def running(
    sink: Sink, args: argparse.Namespace, copies: dict[str, int] | None = None
) -> AsyncIterator[Bench]:
    """A freshly started system, stopped and cleaned up afterwards."""
    # Production's pool size and queue type, not the test suite's small pools and
    # classic queues (tests/support/system.py): the bench measures what would run.
    env = {
        "DB_POOL_MAX": str(args.pool_max),
        "BUS_QUEUE_TYPE": args.queue_type,
        **dict(item.split("=", 1) for item in args.env),
    }
    bench = Bench(sink, copies=copies or {}, env=env, wait_quiet=args.wait_quiet)
    try:
        await bench.start()
        yield bench
    finally:
        await bench.stop()


async def one_copy_scenarios(
    one: Bench,
    chosen: list[str],
    sizes: Sizes,
    args: argparse.Namespace,
    profiler: Profiler | None,
    raw_reps: dict[str, list[dict[str, Any]]],
    results: dict[str, Any],
) -> None:
    if "search" in chosen:
        world = await search.prepare(
            one, sizes.search_consultants, sizes.search_weeks, sizes.search_students
        )
        results["search_world"] = {
            "availabilities": len(world.availability_ids),
            "invitees": len(world.tokens),
            "week": [str(d) for d in world.week],
            "slots_in_week": world.slots,
            "response_bytes": world.body_bytes,
            "seeded_through": "public API (POST /api/v1/availabilities, chunks of 1,000)",
            "seed_s": world.seed_s,
        }
        await one.settle()
        raw_reps["search"] = await search.scenario(
            one, world, args.repeat, sizes.search_clients, sizes.search_seconds, profiler
        )
    if "booking" in chosen:
        bworld = await booking.prepare(one, sizes.booking_consultants, sizes.booking_attempts)
        raw_reps["booking"] = await booking.scenario(
            one, bworld, args.repeat, sizes.booking_slots, sizes.booking_clients, profiler
        )
    if "report" in chosen:
        await report.seed(one, sizes.report_rows)
        await one.settle()
        raw_reps["report"] = await report.scenario(one, sizes.report_rows, args.repeat, profiler)


async def main(args: argparse.Namespace) -> int:
    sizes = dataclasses.replace(QUICK if args.quick else FULL, **args.size)
    chosen = [s for s in SCENARIOS if s in args.only]
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        "options": {
            "repeat": args.repeat,
            "quick": args.quick,
            "scenarios": chosen,
            "db_pool_max": args.pool_max,
            "bus_queue_type": args.queue_type,
            "wait_quiet": args.wait_quiet,
            "env": args.env,
            "copies": args.copies,
        },
        "sizes": sizes.__dict__,
        "scenarios": {},
        "parked_messages": {},
    }
    raw_reps: dict[str, list[dict[str, Any]]] = {}
    scaled_booking: list[dict[str, Any]] = []
    profiler = Profiler(args.py_spy, tuple(args.profile)) if args.profile else None
    sink = Sink()
    await sink.start()
    started = time.monotonic()
    # One system at a time: PostgreSQL's connections are shared with whoever else
    # works on this machine (max_connections), and idle copies still cost a little.
    try:
        if "fanout" in chosen or "scaleout" in chosen:
            async with running(sink, args) as one:
                log(f"fan-out: preparing {sizes.fanout_students} students")
                world = await fanout.prepare(one, sink, sizes.fanout_students, "fanout")
                fan_reps = await fanout.scenario(
                    world, sink, sizes.fanout_students, args.repeat, profiler
                )
                results["parked_messages"]["fanout"] = await one.parked()
            if "fanout" in chosen:
                raw_reps["fanout"] = fan_reps
            if "scaleout" in chosen:
                async with running(sink, args, args.copies) as two:
                    scaled = await fanout.prepare(two, sink, sizes.fanout_students, "scaled")
                    raw_reps["scaleout"] = await fanout.scaleout(
                        scaled, sink, sizes.fanout_students, fan_reps
                    )
                    # The booking storm too: bookings spread over the search copies.
                    bworld = await booking.prepare(
                        two, sizes.booking_consultants, sizes.booking_attempts
                    )
                    scaled_booking = await booking.scenario(
                        two, bworld, args.repeat, sizes.booking_slots, sizes.booking_clients
                    )
                    results["parked_messages"]["scaleout"] = await two.parked()
        if {"search", "booking", "report"} & set(chosen):
            async with running(sink, args) as one:
                await one_copy_scenarios(one, chosen, sizes, args, profiler, raw_reps, results)
                results["parked_messages"]["search/booking/report"] = await one.parked()
    finally:
        await sink.stop()
    results["duration_s"] = round(time.monotonic() - started, 1)
    for name in SCENARIOS:
        if name not in raw_reps:
            continue
        figures = SUMMARIZERS[name](raw_reps[name])
        if name == "scaleout":
            figures += summarize_scaleout_booking(scaled_booking, raw_reps.get("booking"))
            results["scaleout_booking"] = scaled_booking
        results["scenarios"][name] = {"figures": figures, "repetitions": raw_reps[name]}
        print_scenario(name, figures)
    print(f"\nparked messages: {results['parked_messages']}; run took {results['duration_s']}s")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(out.write_text, json.dumps(results, indent=2, default=str))
    print(f"results: {out}")
    missed = [
        f"{name}: {f['figure']}"
        for name, sc in results["scenarios"].items()
        for f in sc["figures"]
        if f["met"] is False
    ]
    print("targets missed: " + ("; ".join(missed) if missed else "none"))
    return 0


def parse_copies(value: str) -> dict[str, int]:
    copies: dict[str, int] = {}
    for item in value.split(","):
        name, _, count = item.partition("=")
        if not count.strip().isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(f"{item!r}: expected SERVICE=N with N ≥ 1")
        copies[name.strip()] = int(count)
    return copies


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per scenario")
    parser.add_argument("--quick", action="store_true", help="small smoke sizes")
    parser.add_argument(
        "--only",
        type=lambda v: [s.strip() for s in v.split(",") if s.strip()],
        default=list(SCENARIOS),
        help="comma list of: " + ",".join(SCENARIOS),
    )
    parser.add_argument(
        "--size",
        action="append",
        default=[],
        metavar="NAME=N",
        help="override one size, e.g. fanout_students=2000 (names: "
        + ", ".join(f.name for f in dataclasses.fields(Sizes))
        + ")",
    )
    parser.add_argument(
        "--copies",
        type=parse_copies,
        default={"search_service": 3, "notify_service": 2},
        metavar="SERVICE=N,...",
        help="copies of the scale-out system (default search_service=3,notify_service=2)",
    )
    parser.add_argument(
        "--profile",
        type=lambda v: [s.strip() for s in v.split(",") if s.strip()],
        default=[],
        help="services to record with py-spy during each scenario's first repetition "
        "(e.g. gateway,search_service); collapsed stacks go to bench/results/",
    )
    parser.add_argument(
        "--py-spy", default="/tmp/pyspy/bin/py-spy", help="the py-spy executable for --profile"
    )
    parser.add_argument(
        "--pool-max",
        type=int,
        default=10,
        help="DB_POOL_MAX of every service (production default 10; the raw baselines use "
        "the same pool size)",
    )
    parser.add_argument("--queue-type", choices=("quorum", "classic"), default="quorum")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment of every service process, e.g. NOTIFY_SMTP_CONCURRENCY=32 "
        "(the SMTP baseline follows it)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each measurement wait up to this long for the machine to be quiet "
        "(others' work < 0.3 cores); for shared machines",
    )
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "latest.json"))
    args = parser.parse_args()
    if any("=" not in item for item in args.env):
        parser.error("--env takes NAME=VALUE")
    names = {f.name: f.type for f in dataclasses.fields(Sizes)}
    sizes: dict[str, Any] = {}
    for item in args.size:
        name, _, value = item.partition("=")
        if name not in names:
            parser.error(f"unknown size {name!r}")
        try:
            sizes[name] = float(value) if names[name] in (float, "float") else int(value)
        except ValueError:
            parser.error(f"--size {name} takes a number")
    args.size = sizes
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
