"""The lowest urllib3 that pyproject.toml allows really works: the package is installed into a
fresh venv with urllib3 1.26 pinned, and an unreachable API is one line of error, not a
traceback.

requests>=2.31 accepts urllib3 1.26, so a user's environment may well hold it; the client's
error mapping once named an exception that only urllib3 2.x has. This runs in the normal suite
on purpose (it is a required check), so it is kept short: one venv for the module, quiet pip,
and every subprocess bounded by a timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOKS_FILE = ROOT / "examples" / "hooks.yaml"
CLOSED_API = "http://127.0.0.1:9/crm/rest/v1"
PIN = "urllib3==1.26.*"
# Installing fetches the dependencies; running waits out the default retries (about 8 s).
INSTALL_SECONDS = 900
RUN_SECONDS = 120


@pytest.fixture(scope="module")
def floor_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding this project and urllib3 1.26; its bin directory."""
    base = tmp_path_factory.mktemp("urllib3-floor")
    # A copy of the sources, so that pip's in-tree build neither writes into the checkout nor
    # picks up a stale build/ directory from an earlier install.
    source = base / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
        ),
    )
    venv = base / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300
    )
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [
            *(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *(str(source), PIN),
        ],
        capture_output=True,
        text=True,
        timeout=INSTALL_SECONDS,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    version = subprocess.run(
        [python, "-c", "import urllib3; print(urllib3.__version__)"],
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        check=True,
    ).stdout.strip()
    assert version.startswith("1.26."), f"the venv holds urllib3 {version}, not {PIN}"
    return venv / "bin"


def test_an_unreachable_api_is_one_line_of_error_with_urllib3_1_26(floor_venv: Path) -> None:
    env = {**os.environ, "KEAP_API_KEY": "floor-test-key"}
    env.pop("KEAP_ACCESS_TOKEN", None)
    result = subprocess.run(
        [str(floor_venv / "hookctl"), "plan", "-f", str(HOOKS_FILE), "--api-url", CLOSED_API],
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_SECONDS,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 1, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("hookctl: error:")]
    assert len(errors) == 1, output
    assert CLOSED_API in errors[0], output
    # Refused before anything was sent: a create could safely go again.
    assert "cannot connect" in errors[0], output
