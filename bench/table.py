"""The figures of a results file as a Markdown table (for bench/README.md).

.venv/bin/python -m bench.table [bench/results/latest.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.harness import ROOT


def _num(value: float | None) -> str:
    if value is None or value != value:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _cell(summary: dict[str, Any] | None, unit: str = "") -> str:
    if not summary or summary.get("median") is None:
        return ""
    median, low, high = summary["median"], summary["min"], summary["max"]
    spread = f" ({_num(low)}–{_num(high)})" if low != high else ""
    return f"{_num(median)}{(' ' + unit) if unit else ''}{spread}"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| scenario | figure | system: median (min–max) | raw baseline | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    from bench.run import SUMMARIZERS, summarize_scaleout_booking

    for name, scenario in results["scenarios"].items():
        # Recomputed from the raw repetitions, so the table follows the current rules.
        figures = SUMMARIZERS[name](scenario["repetitions"])
        if name == "scaleout" and results.get("scaleout_booking"):
            booking = results["scenarios"].get("booking", {}).get("repetitions")
            figures += summarize_scaleout_booking(results["scaleout_booking"], booking)
        for f in figures:
            met = "" if f["met"] is None else ("yes" if f["met"] else "**no**")
            lines.append(
                f"| {name} | {f['figure']} | {_cell(f['system'], f['unit'])} | "
                f"{_cell(f['raw'])} | {_cell(f['ratio'])} | {f['target']} | {met} |"
            )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("-"):
        raise SystemExit(__doc__)
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results" / "latest.json"
    results = json.loads(path.read_text())
    m = results["machine"]
    print(
        f"Run {results['started_at']} at commit {results['commit']}, "
        f"{results['options']['repeat']} repetitions"
        f"{' (--quick)' if results['options']['quick'] else ''}; "
        f"{m['nproc']} × {m['cpu_model']}, {m['memory_gib']} GiB, Python {m['python']}.\n"
    )
    print(markdown(results))


if __name__ == "__main__":
    main()
