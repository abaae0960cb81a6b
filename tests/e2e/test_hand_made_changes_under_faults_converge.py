"""Soak: rounds of hand-made changes to an account under injected faults, each repaired by
`hookctl apply`. Every round converges within three runs, no run adds a duplicate, and no run
touches a subscription hookctl does not manage.

What "converges within three runs" asks of the faults. A plain 500 is Keap refusing the call:
the client rightly does not retry it, so no number of retries inside one run gets past a Keap
that keeps answering 500, and a soak that never lets Keap recover would prove nothing. So each
round gives hookctl the weather a real outage has:

  run 1, a storm: 500s, HTML 502s from a gateway, a create committed and its answer lost, a
         throttle budget that another integration has already spent (429, with or without
         Retry-After, alternating by round), latency. Anything may fail; nothing may be harmed.
  run 2, the tail: only faults the client is built to ride out (502s, lost create answers,
         a throttle, latency). It usually converges here.
  run 3, Keap is healthy again. It must converge here, whatever runs 1 and 2 left behind.

After every run, faulted or not: the unmanaged subscriptions are exactly as they were and no
declared (event, url) pair has more copies than before the run. After the last: one Verified
copy of every declared pair and nothing else in hookctl's ownership.

The account, its hand-made changes and these checks live in helpers.soak, shared with
test_crash_safety.py and test_concurrent_applies_converge.py. The CI version runs 3 rounds;
HOOKCTL_SLOW=1 runs 20.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from helpers.cli import Cli
from helpers.clocks import HeldClock
from helpers.soak import (
    SLOW_ONLY,
    hand_made_changes,
    open_account,
    spend_throttle_budget,
)

from hookctl.sandbox import Faults


def _storm(rng: random.Random, round_number: int) -> Faults:
    return Faults(
        error_rate=rng.uniform(0.1, 0.3),
        html_error_rate=rng.uniform(0.05, 0.15),
        drop_after_create=rng.randint(1, 2),
        throttle_rate=20,
        retry_after=round_number % 2 == 0,
        latency=rng.uniform(0, 0.01),
        seed=rng.getrandbits(32),
    )


def _tail(rng: random.Random, round_number: int) -> Faults:
    return Faults(
        html_error_rate=rng.uniform(0, 0.1),
        drop_after_create=rng.randint(0, 1),
        throttle_rate=30,
        retry_after=round_number % 2 == 1,
        latency=rng.uniform(0, 0.01),
        seed=rng.getrandbits(32),
    )


@pytest.mark.parametrize(
    "rounds", [pytest.param(3, id="ci"), pytest.param(20, id="long", marks=SLOW_ONLY)]
)
def test_every_round_of_hand_made_changes_under_faults_converges_within_three_runs(
    rounds: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli: Cli,
) -> None:
    rng = random.Random(20261129)
    report = []
    runs_per_round = []
    faults_seen: Counter[str] = Counter()
    with open_account(tmp_path, monkeypatch, cli, "soak") as account:
        sb = account.sandbox
        clock = HeldClock()
        sb.set_clock(clock)
        for round_number in range(1, rounds + 1):
            changes = hand_made_changes(account, rng, rng.randint(2, 6))
            unmanaged = account.unmanaged()
            schedule = [_storm(rng, round_number), _tail(rng, round_number), Faults()]
            for run, faults in enumerate(schedule, start=1):
                counts = account.declared_counts()
                if run == 1:
                    # The bucket stands still from the neighbour's spending until apply's first
                    # call, which therefore meets it empty (429) however slowly apply starts.
                    clock.hold()
                sb.set_faults(faults)
                if run == 1:
                    spend_throttle_budget(account)
                    clock.release_after(1)
                    sb.reset_stats()
                status = account.apply()
                sb.set_faults(Faults())
                account.assert_no_harm(unmanaged, counts, f"round {round_number} run {run}")
                if status == 0:
                    break
            else:
                pytest.fail(f"round {round_number} did not converge in three runs")
            account.assert_converged(unmanaged, f"round {round_number}")
            answers = Counter(sb.stats()["responses"])
            faults_seen.update(answers)
            injected = ", ".join(f"{k}x{answers[k]}" for k in ("500", "502", "429", "dropped"))
            runs_per_round.append(run)
            report.append(f"round {round_number}: {run} run(s); {injected}; {', '.join(changes)}")
    capsys.readouterr()
    with capsys.disabled():
        print(f"\nsoak, {rounds} rounds, runs per round: {runs_per_round}")
        print("\n".join(report))
    # Without these the soak would be a quiet sunny day.
    assert all(faults_seen[kind] for kind in ("500", "502", "429", "dropped")), faults_seen
