"""The house rules that tools can check: ruff (lint and format) and mypy --strict are clean on
the package, its tests and its benchmarks. pyproject pins both tools' versions in its test
extra, so a new release cannot fail this file on code that did not change."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["hookctl", "tests", "bench"]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; it is in the project's test extra")
    return found


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_finds_nothing() -> None:
    result = _run(_tool("ruff"), "check", *SOURCES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_would_change_nothing() -> None:
    result = _run(_tool("ruff"), "format", "--check", *SOURCES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing() -> None:
    result = _run(_tool("mypy"), "--cache-dir=/dev/null", *SOURCES)
    assert result.returncode == 0, result.stdout + result.stderr
