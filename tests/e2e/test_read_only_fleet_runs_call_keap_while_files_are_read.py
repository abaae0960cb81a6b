"""Read-only runs over several hooks files (drift, plan) start each account's calls as soon as
its file is read and checked, while the main thread reads the next files; what they show, save
and exit with is what reading every file first gives, bad input included (the error alone,
nothing written). Shown by holding a file back until the sandbox was called, never by timing."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import Cli, Result, writes
from helpers.processes import ctrl_c_reaches_the_child
from helpers.reads import HeldReads, clients, listed, mixed_fleet, one_account_file

from hookctl.cli import commands
from hookctl.sandbox import Sandbox

COUNT = 6
LAST = f"c{COUNT - 1:02d}.yaml"


@pytest.fixture
def quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEAP_API_URL", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture
def fleet(
    quiet_env: None, sandbox: Sandbox, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """clients/: COUNT one-account files on the sandbox."""
    return clients(tmp_path, sandbox, api_key, monkeypatch, COUNT)


def read_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, runs read and check every file before any call, as they did before."""
    monkeypatch.setattr(commands, "_overlaps", lambda *args: False)


def same(one: Result, other: Result) -> None:
    assert (one.status, one.out, one.err) == (other.status, other.out, other.err)


# -- the overlap ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["drift", "plan"])
def test_an_account_is_listed_while_later_files_are_still_being_read(
    command: str, fleet: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    reads = HeldReads(monkeypatch, LAST, listed(sandbox))
    result = cli.run("-vv", command, "-f", str(fleet), "--format", "json", status=None)
    assert result.status == (2 if command == "drift" else 0), result.shown
    assert reads.happened, f"no account was listed before {LAST} was read"
    assert len(json.loads(result.out)["accounts"]) == COUNT
    # What the accounts logged while files were read was held back, then shown, labelled.
    for index in range(COUNT):
        assert f"hookctl: DEBUG: c{index:02d}: GET /hooks -> 200" in result.err, result.err
    assert sandbox.stats()["calls"]["GET /hooks"] == COUNT
    assert writes(sandbox) == {}


def test_reading_every_file_first_lists_no_account_before_the_last_file(
    fleet: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    # What the test above tells apart: before, nothing was sent until every file was read.
    read_first(monkeypatch)
    reads = HeldReads(monkeypatch, LAST, listed(sandbox), bound=0.3)
    cli.run("drift", "-f", str(fleet), status=2)
    assert reads.happened is False


def test_other_runs_still_read_every_file_first(
    fleet: Path, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    reads = HeldReads(monkeypatch, LAST, listed(sandbox), bound=0.3)
    runs: list[tuple[tuple[str, ...], int]] = [
        # apply writes: nothing is sent before every file is checked.
        (("apply", "-f", str(fleet), "--auto-approve"), 0),
        # One file, or --account: the output's shape waits for the files.
        (("drift", "-f", str(fleet / LAST), "--account", "default"), 0),
        (("drift", "-f", str(fleet), "--account", "c00"), 0),
        # --probe sends to the declared urls, beyond Keap.
        (("plan", "-f", str(fleet), "--probe"), 0),
        # A check that fails before any call: said after the files' own messages, as before.
        (("drift", "-f", str(fleet), "--notify", "not a url"), 0),
        (("drift", "-f", str(fleet), "--metrics-file", str(tmp_path / "none" / "m.prom")), 1),
    ]
    for argv, status in runs:
        sandbox.reset_stats()
        reads.happened = None
        cli.run(*argv, status=status)
        assert reads.happened is False, argv


# -- the same output as reading first --------------------------------------------------------

RUNS = [
    ("drift",),
    ("drift", "--format", "json"),
    ("drift", "--format", "markdown"),
    ("drift", "--shard", "1/2", "--format", "json"),
    ("plan",),
    ("plan", "--format", "json"),
    ("plan", "--format", "markdown", "--detailed-exitcode"),
    ("plan", "--target", "acme-*", "--format", "json"),
]


def overlapped_then_read_first(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    sandbox: Sandbox,
    argv: tuple[str, ...],
    again: tuple[str, ...],
) -> tuple[Result, Result]:
    """`argv` run with regions.yaml held back until an account was listed (so the run did
    overlap), then `again` with every file read first."""
    reads = HeldReads(monkeypatch, "regions.yaml", listed(sandbox))
    overlapped = cli.run(*argv, status=None)
    assert reads.happened, "the run did not overlap: nothing to compare"
    reads.held = ""
    read_first(monkeypatch)
    return overlapped, cli.run(*again, status=None)


@pytest.mark.parametrize("argv", RUNS, ids=[" ".join(argv) for argv in RUNS])
def test_output_is_what_reading_every_file_first_gives(
    argv: tuple[str, ...],
    quiet_env: None,
    sandbox: Sandbox,
    api_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    files = mixed_fleet(tmp_path, sandbox, api_key, monkeypatch)
    sandbox.seed([("contact.add", f"{sandbox.receiver_url}/acme-contacts", "Unverified")])
    overlapped, first = overlapped_then_read_first(
        cli, monkeypatch, sandbox, (*argv, *files), (*argv, *files)
    )
    same(overlapped, first)
    assert overlapped.status in (0, 2)
    assert writes(sandbox) == {}


def saved(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    document.pop("created_at", None)
    return document


def test_a_saved_plan_is_what_reading_every_file_first_saves(
    quiet_env: None,
    sandbox: Sandbox,
    api_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    files = mixed_fleet(tmp_path, sandbox, api_key, monkeypatch)
    overlapped, first = overlapped_then_read_first(
        cli,
        monkeypatch,
        sandbox,
        ("plan", *files, "--out", str(tmp_path / "plan.json")),
        ("plan", *files, "--out", str(tmp_path / "first.json")),
    )
    assert overlapped.status == first.status == 0
    assert overlapped.out == first.out
    assert saved(tmp_path / "plan.json") == saved(tmp_path / "first.json")


# -- bad input: the error alone, as if nothing had started -------------------------------------


def bad_last_file(fleet: Path, sandbox: Sandbox) -> tuple[str, ...]:
    (fleet / LAST).write_text(
        "version: 1\naccount: {credentials: {api_key_env: KEY_C05}}\nhooks: [{name: x}]\n"
    )
    return ()


def two_files_of_one_name(fleet: Path, sandbox: Sandbox) -> tuple[str, ...]:
    one_account_file(fleet / "c00.yaml", sandbox, "c00-contacts", "KEY_C00", name="same")
    one_account_file(fleet / LAST, sandbox, "c05-contacts", "KEY_C05", name="same")
    return ()


def a_target_naming_nothing(fleet: Path, sandbox: Sandbox) -> tuple[str, ...]:
    return ("--target", "no-such-entry")


BAD = [bad_last_file, two_files_of_one_name, a_target_naming_nothing]


@pytest.mark.parametrize("command", ["drift", "plan"])
@pytest.mark.parametrize("bad", BAD, ids=[each.__name__ for each in BAD])
def test_bad_input_ends_the_run_as_reading_first_does_with_nothing_written(
    bad: Any,
    command: str,
    fleet: Path,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    # The sandbox runs in this process: its own access log would show the calls it answered.
    monkeypatch.setattr(logging.getLogger("hookctl.sandbox.server"), "disabled", True)
    extra = bad(fleet, sandbox)
    sandbox.seed([("contact.add", f"{sandbox.receiver_url}/c01-contacts", "Unverified")])
    reads = HeldReads(monkeypatch, LAST, listed(sandbox))
    # -vv: what the accounts at work log (their calls) must not show either.
    argv = ("-vv", command, "-f", str(fleet), *extra, "--format", "json")
    overlapped = cli.run(*argv, status=1)
    assert reads.happened, "no account was at work when the bad input was found"
    assert overlapped.out == "" and "Traceback" not in overlapped.err
    reads.held = ""
    read_first(monkeypatch)
    sandbox.reset_stats()
    first = cli.run(*argv, status=1)
    same(overlapped, first)
    assert sandbox.stats()["calls"] == {}
    assert writes(sandbox) == {}
    assert [hook.status for hook in sandbox.hooks()] == ["Unverified"]


# -- Ctrl-C ------------------------------------------------------------------------------------

# hookctl with the file named $HELD held back (after it marks $MARK) for a minute: Ctrl-C
# comes while the accounts before it are at work and the files are still being read.
CHILD = """
import os, sys, time
import hookctl.config
from hookctl.cli import main
read = hookctl.config.read
def held(path, *args, **kwargs):
    if os.path.basename(path) == os.environ["HELD"]:
        open(os.environ["MARK"], "w").close()
        time.sleep(60)
    return read(path, *args, **kwargs)
hookctl.config.read = held
sys.exit(main(sys.argv[1:]))
"""
# Generous: a child's start-up on a loaded machine is not what is measured, and far below
# the minute the file is held.
PROMPT = 20.0


def test_ctrl_c_while_files_are_still_read_ends_cleanly(
    fleet: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    mark = tmp_path / "reading-the-last-file"
    env = {**os.environ, "HELD": LAST, "MARK": str(mark)}
    drift = subprocess.Popen(
        [sys.executable, "-c", CHILD, "drift", "-f", str(fleet)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_the_child,
    )
    try:
        deadline = time.monotonic() + PROMPT
        while not (mark.exists() and listed(sandbox)()):
            assert time.monotonic() < deadline and drift.poll() is None, "drift never got there"
            time.sleep(0.01)
        drift.send_signal(signal.SIGINT)
        out, err = drift.communicate(timeout=PROMPT)
    finally:
        drift.kill()
        drift.wait()
    assert drift.returncode == 130, out + err
    assert "Traceback" not in err and "hookctl: interrupted" in err
    assert out == ""
    assert writes(sandbox) == {}
