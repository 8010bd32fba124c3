"""Run every benchmark and keep its results in benchmarks/results.json, which the docs'
performance page is generated from (docs/hooks/performance.py): the tables there are never
copied by hand.

    python benchmarks/record.py                 # all of them (a few minutes; needs redis-server)
    python benchmarks/record.py core telemetry  # only these; the others keep their last results

Run it on an otherwise idle machine: each benchmark reports ratios against a baseline measured in
the same run, but absolute times move with the machine. The file records the machine and its load.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
BENCHMARKS = {
    "core": ["bench_core.py"],
    "langchain": ["bench_langchain.py"],
    "telemetry": ["bench_telemetry.py"],
    "stores": ["bench_stores.py"],
    "budgets": ["bench_budgets.py"],
    "conditions": ["bench_conditions.py"],
    "provenance": ["bench_provenance.py"],
    "approvals": ["bench_approvals.py"],
}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": f"{platform.system()} {platform.machine()}",
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def run(name: str) -> dict[str, object]:
    script, *args = BENCHMARKS[name]
    print(f"running {script} ...", file=sys.stderr, flush=True)
    out = subprocess.run(
        [sys.executable, str(HERE / script), *args, "--json"],
        check=True, capture_output=True, text=True,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"benchmarks": {}}
    for name in names:
        before = machine()
        data["benchmarks"][name] = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": before,
            "result": run(name),
        }
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
