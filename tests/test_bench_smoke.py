"""The benchmarks' smoke mode runs in the suite, so the scripts under bench/ cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_benchmark_runs_at_small_sizes_and_prints_its_figures() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # One line per target of issue 7 (the apply counts give two), each with a figure.
    assert len(lines) == 9, result.stdout
    assert all(line.startswith(("ok  ", "MISS")) and ": " in line for line in lines)
    assert any("calls for one plan" in line and line.startswith("ok") for line in lines)
    assert any("second apply right after: 0 writes" in line for line in lines)
