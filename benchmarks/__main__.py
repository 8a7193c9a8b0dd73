"""Run the benchmark suite: ``python -m benchmarks [name-filter]``.

Prints a table of rates and ratios and writes them to ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import bench_alarms, bench_broadcast, bench_clone, bench_edge, bench_fetch, bench_mesh, bench_runtime

if TYPE_CHECKING:
    from ._harness import Result

SUITES = {
    "clone": bench_clone.run,
    "runtime": bench_runtime.run,
    "mesh": bench_mesh.run,
    "alarms": bench_alarms.run,
    "broadcast": bench_broadcast.run,
    "fetch": bench_fetch.run,
    "edge": bench_edge.run,
}


def main(argv: list[str]) -> int:
    wanted = argv[1:] or list(SUITES)
    results: list[Result] = []
    for name in wanted:
        if name not in SUITES:
            print(f"unknown benchmark {name!r}; choose from {', '.join(SUITES)}", file=sys.stderr)
            return 2
        results.extend(SUITES[name]())
    _print_table(results)
    out = Path(__file__).parent / "results" / "latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "python": platform.python_version(),
                "machine": platform.machine(),
                "results": [
                    {
                        "name": r.name,
                        "unit": r.unit,
                        "ours": r.ours,
                        "baselines": r.baselines,
                        "ratios": r.ratios(),
                        "target": r.target,
                    }
                    for r in results
                ],
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out}")
    return 0


def _print_table(results: list[Result]) -> None:
    print(f"{'benchmark':66} {'ours':>12} {'unit':<14} ratios to baselines (same run)")
    for r in results:
        ratios = ", ".join(f"{r.ours / v:.2f}x {k}" for k, v in r.baselines.items()) or "-"
        target = f"  [target {r.target}]" if r.target else ""
        print(f"{r.name:66} {r.ours:>12,.1f} {r.unit:<14} {ratios}{target}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
