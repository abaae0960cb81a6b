"""Crash safety: an apply killed with SIGKILL at any point leaves nothing a rerun cannot finish.

Each kill point starts from a fresh mess of hand-made changes (so the apply has creates,
updates, verifies and deletes to do), runs `python -m hookctl apply` as a child process against
a sandbox with added latency, and kills it once the sandbox has received a randomly chosen
number of its calls, plus a random part of one call's latency: some kills land while a write is
in flight at Keap (it completes there, and its answer is lost), some between calls, some during
the first or the final list. After each kill the account must show no harm done, and a single
rerun must exit 0 with the account converged.

The CI version kills at 4 points; HOOKCTL_SLOW=1 at 24.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.cli import Cli
from helpers.soak import SLOW_ONLY, Account, hand_made_changes, open_account

from hookctl.config import read
from hookctl.domain.planner import plan
from hookctl.sandbox import Faults, Sandbox

LATENCY = 0.04


def calls_received(sb: Sandbox) -> int:
    return sum(sb.stats()["calls"].values())


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def wait_for_call(sb: Sandbox, child: subprocess.Popen[bytes], number: int) -> None:
    """Until Keap has received call `number` of the apply, or the apply has ended."""
    wait_for(lambda: calls_received(sb) >= number or child.poll() is not None)


def keap_is_quiet(sb: Sandbox) -> bool:
    """Every call Keap received has been answered (or dropped): no write is still landing."""
    stats = sb.stats()
    return sum(stats["calls"].values()) == sum(stats["responses"].values())


def start_apply(account: Account) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KEAP_API_URL": account.sandbox.api_url}
    argv = ["apply", "-f", str(account.config), "--auto-approve", "--force", "--parallelism", "2"]
    return subprocess.Popen(
        [sys.executable, "-m", "hookctl", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    "points", [pytest.param(4, id="ci"), pytest.param(24, id="long", marks=SLOW_ONLY)]
)
def test_an_apply_killed_at_random_points_converges_on_one_rerun_without_duplicates(
    points: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli: Cli,
) -> None:
    rng = random.Random(9)
    kills: list[str] = []
    finished_first = 0
    with open_account(tmp_path, monkeypatch, cli, "crash", entries=8) as account:
        sb = account.sandbox
        desired = read(account.config).desired()
        while len(kills) < points:
            hand_made_changes(account, rng, rng.randint(4, 10))
            unmanaged, counts = account.unmanaged(), account.declared_counts()
            # One GET /hooks, a call per change, and the final GET /hooks.
            calls = len(plan(desired, account.hooks()).changes) + 2
            kill_at, extra = rng.randint(1, calls), rng.uniform(0, LATENCY)
            sb.reset_stats()
            sb.set_faults(Faults(latency=LATENCY))
            child = start_apply(account)
            wait_for_call(sb, child, kill_at)
            time.sleep(extra)
            child.send_signal(signal.SIGKILL)
            child.wait()
            wait_for(lambda: keap_is_quiet(sb))
            sb.set_faults(Faults())
            where = f"call {kill_at}/{calls} +{extra * 1000:.0f}ms"
            if child.returncode != -signal.SIGKILL:
                finished_first += 1  # the apply ended before the signal came: no kill point
                assert child.returncode == 0, f"{where}: the apply failed without faults"
            else:
                kills.append(where)
            account.assert_no_harm(unmanaged, counts, f"killed at {where}")
            assert account.apply() == 0, f"rerun after a kill at {where}"
            account.assert_converged(unmanaged, f"rerun after a kill at {where}")
            assert len(kills) + finished_first < 2 * points, "the kills keep missing the apply"
    capsys.readouterr()
    with capsys.disabled():
        print(f"\ncrash: {len(kills)} kill points (call reached/calls planned + delay):")
        print("  " + ", ".join(kills) + f"; {finished_first} apply(s) finished before the kill")
