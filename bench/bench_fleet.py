"""Time `hookctl drift` over a fleet: many accounts of a few subscriptions behind one loopback
server that answers each call after a fixed latency (issue 22, item 7).

Usage: python bench/bench_fleet.py [--accounts N] [--subscriptions S] [--latency SECONDS]
                                   [--parallelism P ...] [--layout files|accounts]
                                   [--profile FILE] [--source DIR ...]

--source DIR runs the child from another source tree (`git archive COMMIT | tar -x -C DIR`)
instead of the installed hookctl, so that two commits are compared in one run, their runs
taking turns: on a shared machine CPU time per account drifts by 10% or more from one
quarter of an hour to the next, and only figures of one run compare.

--layout files (the default) writes clients/cNNNN.yaml, one account each; --layout accounts
writes one fleet.yaml whose `accounts:` names them all. Each account has its own credentials
variable, so that no two look like one Keap account managed twice. The sandbox holds the S
subscriptions every account declares (so every account is in sync and each drift check is one
GET /hooks). The console script runs as a child process, as a scheduled job would. Per run
it prints the wall time against the latency floor (calls x latency / parallelism, from the
sandbox's own call counter), the child's CPU time per account and its peak RSS (os.wait4:
that child alone). --profile FILE runs the child under cProfile and writes its stats there;
--profile FILE.txt samples every thread with py-spy instead (installed by hand).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hookctl.domain.models import KNOWN_EVENT_KEYS
from hookctl.sandbox import Faults, Sandbox, SandboxSettings

KEY = "bench-fleet-key"
_SCRIPT = Path(sys.executable).parent / "hookctl"
HOOKCTL = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "hookctl"]


@dataclass(frozen=True)
class FleetRun:
    layout: str
    accounts: int
    parallelism: int
    status: int
    wall: float
    cpu: float  # the child's user + system seconds
    rss_mb: float
    calls: int  # Keap API calls the sandbox answered
    latency: float

    @property
    def floor(self) -> float:
        """The least wall time the calls can take `parallelism` at a time."""
        return self.calls * self.latency / self.parallelism

    @property
    def cpu_ms_per_account(self) -> float:
        return self.cpu * 1000 / self.accounts

    def line(self) -> str:
        return (
            f"drift of {self.accounts} accounts ({self.layout}), "
            f"--account-parallelism {self.parallelism}: "
            f"{self.wall:.2f} s against a floor of {self.floor:.2f} s "
            f"({self.wall / self.floor:.2f}x), "
            f"{self.cpu_ms_per_account:.2f} ms CPU per account, {self.rss_mb:.0f} MB peak RSS, "
            f"{self.calls} calls, exit {self.status}"
        )


def write_fleet(
    folder: Path, sandbox: Sandbox, accounts: int, subscriptions: int, layout: str = "files"
) -> tuple[Path, dict[str, str]]:
    """The hooks files (what -f names: the folder, or the one file), and the environment that
    holds each account's credentials variable."""
    folder.mkdir(parents=True, exist_ok=True)
    base = sandbox.receiver_url
    hooks = "".join(
        f"  - name: h{j}\n    url: {base}/h{j}\n"
        f"    events: [{KNOWN_EVENT_KEYS[j % len(KNOWN_EVENT_KEYS)]}]\n"
        for j in range(subscriptions)
    )
    rest = f"ownership:\n  url_prefixes: ['{base}/']\nhooks:\n{hooks}"
    env = {f"KEAP_KEY_{i:04d}": KEY for i in range(accounts)}
    if layout == "accounts":
        path = folder / "fleet.yaml"
        path.write_text(
            "version: 1\naccounts:\n"
            + "".join(
                f"  c{i:04d}: {{api_url: '{sandbox.api_url}', "
                f"credentials: {{api_key_env: KEAP_KEY_{i:04d}}}}}\n"
                for i in range(accounts)
            )
            + rest
        )
        return path, env
    for i in range(accounts):
        (folder / f"c{i:04d}.yaml").write_text(
            "version: 1\n"
            f"account:\n  api_url: {sandbox.api_url}\n"
            f"  credentials: {{api_key_env: KEAP_KEY_{i:04d}}}\n" + rest
        )
    return folder, env


def seed(sandbox: Sandbox, subscriptions: int) -> None:
    base = sandbox.receiver_url
    sandbox.seed(
        [
            (KNOWN_EVENT_KEYS[j % len(KNOWN_EVENT_KEYS)], f"{base}/h{j}", "Verified")
            for j in range(subscriptions)
        ]
    )


def api_calls(sandbox: Sandbox) -> int:
    return sum(n for route, n in sandbox.stats()["calls"].items() if not route.startswith("GET /_"))


def drift(
    accounts: int,
    subscriptions: int,
    parallelism: int,
    latency: float,
    tmp: Path,
    profile: str | None = None,
    layout: str = "files",
    source: str | None = None,
) -> FleetRun:
    """One `hookctl drift -f clients/` (or `-f fleet.yaml`) in a child process, against a
    fresh sandbox."""
    with Sandbox(SandboxSettings(api_key=KEY, faults=Faults(latency=latency))) as sandbox:
        seed(sandbox, subscriptions)
        folder = tmp / f"fleet-{layout}-{accounts}-{parallelism}" / "clients"
        files, variables = write_fleet(folder, sandbox, accounts, subscriptions, layout)
        env = {**os.environ, **variables}
        env.pop("KEAP_API_URL", None)
        env.pop("GITHUB_STEP_SUMMARY", None)
        if source:
            # Ahead of the installed (editable) package, whose finder comes after sys.path.
            env["PYTHONPATH"] = source
        command = HOOKCTL
        if profile and profile.endswith(".txt"):
            # py-spy samples every thread (cProfile sees only the main one): --profile X.txt.
            spy = Path(sys.executable).parent / "py-spy"
            command = [str(spy), "record", "-f", "raw", "-o", profile, "-r", "250", "--", *HOOKCTL]
        elif profile:
            command = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "hookctl"]
        argv = [*command, "drift", "-f", str(files), "--account-parallelism", str(parallelism)]
        before = api_calls(sandbox)
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        errors = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.stderr.close()
        calls = api_calls(sandbox) - before
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"drift exited {code}: {errors.decode(errors='replace')[-2000:]}")
    return FleetRun(
        f"{layout}, {source}" if source else layout,
        accounts,
        parallelism,
        code,
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,  # Linux reports KiB
        calls,
        latency,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--subscriptions", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--parallelism", type=int, nargs="+", default=[32])
    parser.add_argument("--layout", choices=("files", "accounts"), default="files")
    parser.add_argument("--profile", metavar="FILE", help="write the child's cProfile stats here")
    parser.add_argument(
        "--source",
        metavar="DIR",
        nargs="+",
        default=[""],
        help="source trees to run in turn ('' is the installed hookctl)",
    )
    args = parser.parse_args()
    os.environ["HOOKCTL_SANDBOX_LOOPBACK_ONLY"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        for parallelism in args.parallelism:
            for source in args.source:
                run = drift(
                    args.accounts,
                    args.subscriptions,
                    parallelism,
                    args.latency,
                    Path(tmp),
                    args.profile,
                    args.layout,
                    source or None,
                )
                print(run.line(), flush=True)


if __name__ == "__main__":
    main()
