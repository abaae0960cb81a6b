"""Planner alone: 10,000 declared vs 10,000 live, then 20,000 vs 20,000, in one run.

Target (issue 7): under 0.2 s at 10,000, and 20,000 under 2.5x that (no quadratic step).
Half of the declared pairs are live (a tenth of those Unverified or Inactive, some twice), the
live list also holds managed subscriptions that moved (updates) or are gone from hooks.yaml
(deletes) and other integrations' subscriptions (unmanaged), and Keap's list comes shuffled.

Each size is timed `--repeat` times, the two sizes taking turns, and the median reported (the
minimum too); the garbage collector stays on, as in the CLI. The same run also times the
renderers and a saved-plan round trip once at each size, for information.

    python bench/bench_planner.py [--sizes 10000 20000] [--repeat 7] [--smoke]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hookctl.domain.models import KNOWN_EVENT_KEYS, DesiredState, Hook, Ownership, Subscription
from hookctl.domain.planner import Plan, plan
from hookctl.engine import planfile
from hookctl.formats.documents import plan_document
from hookctl.formats.markdown import plan_markdown
from hookctl.formats.render import plan_text

BASE = "https://hooks.example.com/"
EVENTS_PER_ENTRY = 4
TARGET_SECONDS = 0.2
TARGET_RATIO = 2.5
UNHEALTHY = ("Unverified", "Inactive")


def make_state(size: int, seed: int = 7) -> tuple[DesiredState, list[Hook]]:
    """`size` declared subscriptions and `size` live ones, as described in the module doc."""
    rng = random.Random(seed)
    events = KNOWN_EVENT_KEYS
    subs = []
    for i in range(size):
        entry = i // EVENTS_PER_ENTRY
        event = events[(entry * 7 + i % EVENTS_PER_ENTRY) % len(events)]
        subs.append(Subscription(event, f"{BASE}receivers/{entry}", f"entry-{entry}"))
    desired = DesiredState(
        frozenset(subs),
        Ownership(
            declared_urls=frozenset(sub.hook_url for sub in subs),
            url_prefixes=(BASE,),
            ignore=("https://hooks.zapier.com/*",),
        ),
    )
    live: list[Hook] = []

    def add(event: str, url: str, status: Any = "Verified") -> None:
        live.append(Hook(str(len(live) + 1), event, url, status))

    present = subs[: size // 2]
    for sub in present:  # 50%: declared and live
        unhealthy = rng.random() < 0.1
        add(sub.event_key, sub.hook_url, rng.choice(UNHEALTHY) if unhealthy else "Verified")
    for sub in rng.sample(present, size // 20):  # 5%: duplicates
        add(sub.event_key, sub.hook_url, rng.choice(("Verified", "Unverified")))
    for i in range(size * 20 // 100):  # 20%: receivers that moved -> updates
        add(events[i % len(events)], f"{BASE}old/{i}")
    for i in range(size * 10 // 100):  # 10%: no longer declared -> deletes
        add(events[i % len(events)], f"{BASE}gone/{i % 97}/{i}")
    while len(live) < size:  # the rest (15%): another integration's -> unmanaged
        add(events[len(live) % len(events)], f"https://hooks.zapier.com/hooks/catch/{len(live)}")
    rng.shuffle(live)
    return desired, live


def timed(action: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure(
    states: dict[int, tuple[DesiredState, list[Hook]]], repeat: int
) -> dict[int, list[float]]:
    """`repeat` timings of plan() at each size; the sizes take turns, so that a noisy
    neighbour slows both rather than one."""
    times: dict[int, list[float]] = {size: [] for size in states}
    for _ in range(repeat):
        for size, (desired, live) in states.items():
            times[size].append(timed(lambda: plan(desired, live)))  # noqa: B023 (called at once)
    return times


def round_trip(the_plan: Plan, live: list[Hook], directory: str) -> None:
    path = Path(directory) / "plan.json"
    planfile.write(
        path,
        the_plan,
        config_digest="0" * 64,
        live_fingerprint=planfile.fingerprint(live),
        source="hooks.yaml",
        api_url="http://127.0.0.1/crm/rest/v1",
    )
    planfile.read(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[10_000, 20_000])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--smoke", action="store_true", help="small sizes, for CI")
    args = parser.parse_args(argv)
    small, large = (500, 1_000) if args.smoke else args.sizes
    repeat = 3 if args.smoke else args.repeat

    states = {size: make_state(size) for size in (small, large)}
    times = measure(states, repeat)
    medians = {size: statistics.median(runs) for size, runs in times.items()}
    for size, (desired, live) in states.items():
        result = plan(desired, live)
        summary = ", ".join(f"{k} {v}" for k, v in result.summary().items())
        print(
            f"plan {size:>6} vs {size:>6}: median {medians[size] * 1000:7.1f} ms, "
            f"min {min(times[size]) * 1000:7.1f} ms  ({summary})"
        )
        with tempfile.TemporaryDirectory() as directory:
            for label, action in (
                ("render text", lambda: plan_text(result)),  # noqa: B023
                ("render markdown", lambda: plan_markdown(result)),  # noqa: B023
                ("render json", lambda: plan_document(result)),  # noqa: B023
                ("plan file write+read", lambda: round_trip(result, live, directory)),  # noqa: B023
            ):
                print(f"    {label:<22} {timed(action) * 1000:7.1f} ms")
    ratio = medians[large] / medians[small]
    print(f"ratio {large} / {small}: {ratio:.2f} (target < {TARGET_RATIO})")
    if args.smoke:
        return 0
    ok = medians[small] < TARGET_SECONDS and ratio < TARGET_RATIO
    print(
        f"planner at {small}: {medians[small] * 1000:.1f} ms "
        f"(target < {TARGET_SECONDS * 1000:.0f} ms); {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
