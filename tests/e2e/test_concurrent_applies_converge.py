"""Two applies of the same hooks.yaml started at the same moment: after at most one more apply
the account is converged, with no duplicate and no unmanaged subscription touched.

Both child processes import hookctl, say they are ready, and wait on a pipe; the test releases
them together, and the sandbox's latency keeps their first lists in flight at the same time, so
they really do race. The first round starts from an account that lacks every declared
subscription: both applies then create each of them, which is why applies must run one at a
time (SECURITY.md); the next apply deletes the extra copies.

The CI version races twice; HOOKCTL_SLOW=1 races 10 times.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import Cli
from helpers.soak import SLOW_ONLY, Account, hand_made_changes, open_account

from hookctl.sandbox import Faults

# Preloaded so that both children spend their start-up before the starting signal, not after.
CHILD = """
import sys
import hookctl.engine.applier, hookctl.config, hookctl.domain.planner, hookctl.formats.render
from hookctl.cli.commands import main
print("ready", flush=True)
sys.stdin.readline()
sys.exit(main(sys.argv[1:]))
"""


def race(account: Account) -> list[int]:
    """Start two applies together; their exit statuses."""
    env = {**os.environ, "KEAP_API_URL": account.sandbox.api_url}
    argv = ["apply", "-f", str(account.config), "--auto-approve", "--force"]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, *argv],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        child.stdin.flush()
    for child in children:
        child.communicate()
    return [child.returncode for child in children]


@pytest.mark.parametrize(
    "races", [pytest.param(2, id="ci"), pytest.param(10, id="long", marks=SLOW_ONLY)]
)
def test_two_applies_started_together_converge_after_at_most_one_more(
    races: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli: Cli,
) -> None:
    rng = random.Random(5)
    outcomes = []
    with open_account(tmp_path, monkeypatch, cli, "race") as account:
        sb = account.sandbox
        for number in range(races):
            if number == 0:
                for hook in account.hooks():
                    if account.managed(hook.hook_url):
                        account.hand.delete(hook.key)
            else:
                hand_made_changes(account, rng, rng.randint(3, 8))
            unmanaged = account.unmanaged()
            sb.set_faults(Faults(latency=0.1))
            statuses = race(account)
            sb.set_faults(Faults())
            assert all(status in (0, 1) for status in statuses), statuses
            assert account.unmanaged() == unmanaged, "a racing apply touched an unmanaged hook"
            extra = sum(account.declared_counts().values()) - len(account.wanted)
            if number == 0:
                assert extra > 0, "the two applies did not overlap: this race proves nothing"
            assert account.apply() == 0
            account.assert_converged(unmanaged, f"race {number + 1} and one more apply")
            outcomes.append(f"exit {statuses}, {extra} extra copies")
    capsys.readouterr()
    with capsys.disabled():
        print(f"\nconcurrent applies, {races} races: " + "; ".join(outcomes))
