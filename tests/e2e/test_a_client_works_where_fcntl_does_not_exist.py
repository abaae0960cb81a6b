"""Credentials without fcntl: where the POSIX file lock does not exist (Windows), a client with
an API key is built and plans; only an OAuth token file needs the platform's lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hookctl.sandbox import Sandbox

# `import fcntl` raises ImportError once sys.modules holds None for it, as on Windows.
WITHOUT_FCNTL = """
import sys
sys.modules["fcntl"] = None
from hookctl.cli import main
status = main(["plan", "-f", sys.argv[1]])
print("fcntl imported:", sys.modules.get("fcntl") is not None, file=sys.stderr)
sys.exit(status)
"""


def test_plan_with_an_api_key_needs_no_fcntl(env: Sandbox, config: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", WITHOUT_FCNTL, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ),
    )
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    assert "fcntl imported: False" in completed.stderr
    assert "to create" in completed.stdout  # it planned against the sandbox
    assert env.stats()["calls"], "the sandbox was never asked"
