"""Time loading and validating a 10,000-entry hooks.yaml (issue 3), and a cold load of the example.

Usage: python bench/bench_load.py [--entries N] [--repeat R]

Prints the best and the first of R in-process loads of an N-entry file (wildcards and
${VAR} interpolation included, so every stage of the loader runs), and the wall time of a fresh
interpreter that imports hookctl.config and loads examples/hooks.yaml offline: the part of
`hookctl validate --offline examples/hooks.yaml` that this module owns.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENT_SETS = (
    "[contact.add, contact.edit, contact.delete]",
    '["invoice.*", invoice.payment.add]',
    "[order.add, order.edit]",
    '["task.*"]',
    "[opportunity.stage_move]",
)


def write_hooks_file(path: Path, entries: int) -> None:
    lines = [
        "version: 1",
        "account:",
        "  credentials:",
        "    api_key_env: KEAP_API_KEY",
        "ownership:",
        "  url_prefixes: ['${HOOKS_BASE_URL:-https://hooks.example.com}/']",
        "  ignore: ['https://hooks.zapier.com/*']",
        "hooks:",
    ]
    for i in range(entries):
        lines += [
            f"  - name: hook-{i:05d}  # entry {i}",
            f"    url: ${{HOOKS_BASE_URL:-https://hooks.example.com}}/keap/{i}",
            f"    events: {EVENT_SETS[i % len(EVENT_SETS)]}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from hookctl.config import read

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hooks.yaml"
        write_hooks_file(path, args.entries)
        size = path.stat().st_size
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            state = read(path, env={}).desired()
            times.append(time.perf_counter() - start)

    print(
        f"load+validate {args.entries} entries ({size / 1e6:.1f} MB, "
        f"{len(state.subscriptions)} subscriptions): best {min(times):.3f} s, "
        f"first {times[0]:.3f} s, median {statistics.median(times):.3f} s"
    )

    cold = (
        "from hookctl.config import read; "
        f"read({str(ROOT / 'examples' / 'hooks.yaml')!r}, env={{}}).desired()"
    )
    walls = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", cold], check=True)
        walls.append(time.perf_counter() - start)
    print(
        f"fresh interpreter, import hookctl.config + load examples/hooks.yaml: "
        f"best {min(walls) * 1000:.0f} ms, median {statistics.median(walls) * 1000:.0f} ms "
        "(target for `hookctl validate --offline`: 350 ms)"
    )


if __name__ == "__main__":
    main()
