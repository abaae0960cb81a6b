"""The benchmarks' smoke mode runs in the suite, so the scripts under bench/ cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_runs_at_small_sizes_and_prints_its_figures() -> None:
    results = ROOT / "bench" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Exit 0 in smoke mode also means every call-count target held (they are exact at any size).
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # One line per target of issues 7, 18 and 22 (the apply counts give two, the fleet three:
    # its calls, and its times in two layouts), each with a figure.
    assert len(lines) == 14, result.stdout
    assert all(re.match(r"(ok  |MISS) .+: .*\d", line) for line in lines), result.stdout
    assert any(line.startswith("ok   calls for one plan") for line in lines)
    assert any(line.startswith("ok   second apply right after: 0 writes") for line in lines)
    assert any(line.startswith("ok   calls for a drift of 40 accounts") for line in lines)
    assert any("--version" in line and "imported: none of them" in line for line in lines)
    # Smoke mode leaves the committed results alone.
    assert (results.read_bytes() if results.exists() else None) == before
