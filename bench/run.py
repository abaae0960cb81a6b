"""Every benchmark of issue 7 in one run, against the sandbox on loopback.

    python bench/run.py            # full sizes; writes bench/RESULTS.md
    python bench/run.py --smoke    # small sizes in seconds (CI); writes nothing

Call counts are read from the sandbox's own per-route counters, not from the client. Where a
target is a ratio, both sides are measured in this one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hookctl.cli import main as hookctl
from hookctl.models import KNOWN_EVENT_KEYS
from hookctl.sandbox import Faults, Sandbox

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import bench_planner  # noqa: E402

KEY = "bench-key"
HOOKCTL = str(Path(sys.executable).parent / "hookctl")


@dataclass
class Row:
    what: str
    target: str
    measured: str
    ok: bool
    why: str = ""


def hooks_yaml(
    path: Path, base: str, entries: int, events: int = 1, wildcard: bool = False
) -> None:
    lines = ["version: 1", f"ownership:\n  url_prefixes: ['{base}/']", "hooks:"]
    keys = KNOWN_EVENT_KEYS
    for i in range(entries):
        chosen = (
            ["contact.*"]
            if wildcard and i == 0
            else [keys[(i + j) % len(keys)] for j in range(events)]
        )
        lines.append(f"  - name: h{i}\n    url: {base}/h{i}\n    events: [{', '.join(chosen)}]")
    path.write_text("\n".join(lines) + "\n")


def writes(stats: dict[str, dict[str, int]]) -> int:
    return sum(n for route, n in stats["calls"].items() if not route.startswith("GET "))


def quiet(argv: list[str]) -> int:
    with open(os.devnull, "w") as devnull:
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = devnull
        try:
            return hookctl(argv)
        finally:
            sys.stdout, sys.stderr = stdout, stderr


def env_for(sb: Sandbox) -> None:
    os.environ.update({"KEAP_API_URL": sb.api_url, "KEAP_API_KEY": KEY})


def plan_calls(sizes: list[int], tmp: Path) -> Row:
    seen = []
    ok = True
    for size in sizes:
        with Sandbox(api_key=KEY) as sb:
            env_for(sb)
            sb.seed([("contact.add", f"{sb.receiver_url}/h{i}", "Verified") for i in range(size)])
            config = tmp / f"plan-{size}.yaml"
            for wildcard in (False, True):
                hooks_yaml(config, sb.receiver_url, min(size, 50), wildcard=wildcard)
                sb.reset_stats()
                quiet(["plan", "-f", str(config)])
                calls = sb.stats()["calls"]
                want = {"GET /hooks": 1, **({"GET /hooks/event_keys": 1} if wildcard else {})}
                ok &= calls == want
                seen.append(f"{size}{'+wildcard' if wildcard else ''}: {sum(calls.values())}")
    return Row(
        "calls for one plan (live subscriptions)",
        "1 GET /hooks (+1 event_keys with wildcards)",
        "; ".join(seen),
        ok,
    )


def apply_calls(n: int, tmp: Path) -> list[Row]:
    with Sandbox(api_key=KEY) as sb:
        env_for(sb)
        config = tmp / "apply.yaml"
        hooks_yaml(config, sb.receiver_url, n)
        sb.reset_stats()
        quiet(["apply", "-f", str(config), "--auto-approve"])
        first = sb.stats()
        sb.reset_stats()
        quiet(["apply", "-f", str(config), "--auto-approve"])
        second = sb.stats()
    lists = first["calls"].get("GET /hooks", 0)
    return [
        Row(
            f"calls for an apply of {n} creates",
            "N writes + <=1 verify each + 1 final list",
            f"{writes(first)} writes, {lists} lists (1 to plan, 1 final)",
            writes(first) == n and lists == 2,
        ),
        Row(
            "second apply right after", "0 writes", f"{writes(second)} writes", writes(second) == 0
        ),
    ]


def planner(smoke: bool) -> Row:
    sizes = (1000, 2000) if smoke else (10000, 20000)
    medians = {}
    for size in sizes:
        desired, live = bench_planner.make_state(size)
        medians[size] = statistics.median(
            bench_planner.timed(lambda d=desired, lv=live: bench_planner.plan(d, lv))
            for _ in range(5)
        )
    small, large = medians[sizes[0]], medians[sizes[1]]
    return Row(
        f"planner alone, {sizes[0]:,} vs {sizes[0]:,} and {sizes[1]:,} vs {sizes[1]:,}",
        "under 0.2 s; the double size under 2.5x",
        f"{small * 1000:.0f} ms, {large * 1000:.0f} ms, ratio {large / small:.2f}",
        small < 0.2 and large / small < 2.5,
    )


def plan_end_to_end(size: int, tmp: Path) -> Row:
    with Sandbox(api_key=KEY) as sb:
        config = tmp / "e2e.yaml"
        hooks_yaml(config, sb.receiver_url, size)
        sb.seed(
            [
                (KNOWN_EVENT_KEYS[i % len(KNOWN_EVENT_KEYS)], f"{sb.receiver_url}/h{i}", "Verified")
                for i in range(size)
            ]
        )
        env = {**os.environ, "KEAP_API_URL": sb.api_url, "KEAP_API_KEY": KEY}
        started = time.perf_counter()
        result = subprocess.run(
            [HOOKCTL, "plan", "-f", str(config)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
    # The largest child so far: this is the first child run() starts, so it is this one.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return Row(
        f"`hookctl plan` end to end, {size:,} live, {size:,}-entry file",
        "under 2 s wall; peak under 150 MB",
        f"{wall:.2f} s, {peak_mb:.0f} MB (exit {result.returncode})",
        wall < 2 and peak_mb < 150 and result.returncode == 0,
    )


def timed_apply(
    n: int, parallelism: int, faults: Faults, tmp: Path
) -> tuple[float, dict[str, dict[str, int]]]:
    with Sandbox(api_key=KEY, faults=faults) as sb:
        env_for(sb)
        config = tmp / f"timed-{parallelism}.yaml"
        hooks_yaml(config, sb.receiver_url, n)
        started = time.perf_counter()
        quiet(["apply", "-f", str(config), "--auto-approve", "--parallelism", str(parallelism)])
        return time.perf_counter() - started, sb.stats()


def parallelism(n: int, tmp: Path) -> Row:
    slow, _ = timed_apply(n, 1, Faults(latency=0.05), tmp)
    fast, _ = timed_apply(n, 8, Faults(latency=0.05), tmp)
    return Row(
        f"apply of {n} creates, 50 ms latency: --parallelism 8 vs 1",
        "at least 6x faster",
        f"{slow:.1f} s vs {fast:.1f} s: {slow / fast:.1f}x",
        slow / fast >= 6,
    )


def throttled(n: int, rate: float, tmp: Path) -> Row:
    took, stats = timed_apply(n, 8, Faults(throttle_rate=rate, retry_after=True), tmp)
    ideal = (n + 2) / rate
    throttles = stats["responses"].get("429", 0)
    return Row(
        f"apply of {n} creates, sandbox throttling at {rate:g} calls/s",
        f"within 15% of {ideal:.1f} s; at most 5 answers of 429",
        f"{took:.1f} s ({took / ideal - 1:+.0%}), {throttles} x 429",
        took <= ideal * 1.15 and throttles <= 5,
    )


def wall(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def startup(runs: int) -> list[Row]:
    version = wall([HOOKCTL, "--version"], runs)
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from hookctl.cli import main; main(['--version']);"
            "print(sorted(set(sys.modules) & {'requests', 'jsonschema', 'deepdiff', 'yaml'}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[-1]
    validate = wall(
        [HOOKCTL, "validate", "--offline", "-f", str(ROOT / "examples/hooks.yaml")], runs
    )
    return [
        Row(
            "`hookctl --version`",
            "under 150 ms; no requests, jsonschema or deepdiff",
            f"{version * 1000:.0f} ms; heavy modules imported: {probe}",
            version < 0.15 and probe == "[]",
        ),
        Row(
            "`hookctl validate --offline examples/hooks.yaml`",
            "under 350 ms",
            f"{validate * 1000:.0f} ms",
            validate < 0.35,
        ),
    ]


def run(smoke: bool) -> list[Row]:
    steps: list[Callable[[Path], list[Row] | Row]] = [
        lambda tmp: plan_calls([10, 100] if smoke else [10, 1000, 10000], tmp),
        lambda tmp: apply_calls(10 if smoke else 200, tmp),
        lambda tmp: planner(smoke),
        lambda tmp: plan_end_to_end(300 if smoke else 5000, tmp),
        lambda tmp: parallelism(24 if smoke else 500, tmp),
        lambda tmp: throttled(20 if smoke else 500, 25.0, tmp),
        lambda tmp: startup(3 if smoke else 9),
    ]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for step in steps:
            result = step(Path(tmp))
            for row in result if isinstance(result, list) else [result]:
                print(f"{'ok  ' if row.ok else 'MISS'} {row.what}: {row.measured}", flush=True)
                rows.append(row)
    return rows


def markdown(rows: list[Row]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Latest full run of `python bench/run.py`, {time.strftime('%Y-%m-%d %H:%M UTC')},"
        f" on {platform.machine()} with {os.cpu_count()} cores,"
        f" Python {platform.python_version()}.",
        "Sandbox on loopback; call counts read from the sandbox's counters.",
        "",
        "| what | target | measured | result |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r.what} | {r.target} | {r.measured} | {'met' if r.ok else 'missed'} |" for r in rows
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes, no RESULTS.md")
    args = parser.parse_args()
    os.environ["HOOKCTL_SANDBOX_LOOPBACK_ONLY"] = "1"
    rows = run(args.smoke)
    if not args.smoke:
        (ROOT / "bench" / "RESULTS.md").write_text(markdown(rows))
        print("wrote bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
