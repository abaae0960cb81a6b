"""`hookctl drift --metrics-file`: the drift check of each account in Prometheus text format,
for node_exporter's textfile collector (or anything that serves a .prom file).

One file holds every account the run covered (a shard's accounts under `--shard`): per account
the changes its plan would make by action, its unmanaged subscriptions, the exit status of its
check, and the time of its last successful check, carried over from the previous file for an
account whose check failed this time, so an alert on a stale check keeps working through
failures. The file is replaced atomically: the collector never reads half of it.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hookctl.domain.planner import ACTIONS
from hookctl.errors import HookctlError
from hookctl.system.files import read_bounded, write_atomically

if TYPE_CHECKING:
    from hookctl.engine.runner import Planned
    from hookctl.engine.selection import Outcome

__all__ = ["Check", "check_path", "checks", "read_last_success", "render", "write_drift"]

logger = logging.getLogger(__name__)

PREFIX = "hookctl_drift"
LAST_SUCCESS = f"{PREFIX}_last_success_timestamp_seconds"
# The previous file is read only for its last-success times; one this large is not ours.
PREVIOUS_MAX_BYTES = 4 * 1024 * 1024
# Exit statuses, per account, as the command's own: 0 in sync, 2 drifted, 1 the check failed.
IN_SYNC, FAILED, DRIFTED = 0, 1, 2

_HELP = {
    "changes": ("gauge", "Changes the account's plan would make to match its hooks file."),
    "unmanaged": ("gauge", "Subscriptions in the account that its hooks file does not manage."),
    "exit_status": ("gauge", "The account's drift check: 0 in sync, 2 drifted, 1 failed."),
    "last_success_timestamp_seconds": (
        "gauge",
        "Unix time of the account's last drift check that completed (in sync or drifted).",
    ),
    "run_timestamp_seconds": ("gauge", "Unix time this file was written."),
}
_SAMPLE = re.compile(
    rf'^{LAST_SUCCESS}\{{account="((?:[^"\\]|\\.)*)"\}} ([0-9.eE+-]+)(?: [0-9]+)?$'
)


@dataclass(frozen=True)
class Check:
    """One account's drift check as the metrics see it; changes and unmanaged are None when
    the check failed (unknown, not zero)."""

    account: str
    status: int
    changes: Mapping[str, int] | None = None
    unmanaged: int | None = None


def checks(outcomes: Sequence[Outcome[Planned]]) -> list[Check]:
    """The checks of a drift run's outcomes, in their order."""
    found = []
    for outcome in outcomes:
        label = outcome.selected.label
        if outcome.value is None:
            found.append(Check(label, FAILED))
            continue
        plan = outcome.value.plan
        counts: dict[str, int] = {action: plan.count(action) for action in ACTIONS}
        status = DRIFTED if plan.has_changes else IN_SYNC
        found.append(Check(label, status, counts, len(plan.unmanaged)))
    return found


def render(checks: Sequence[Check], now: float, last_success: Mapping[str, float]) -> str:
    """The text format of `checks` made at `now`; `last_success` holds the previous times of
    the accounts, kept for those whose check failed."""
    lines: dict[str, list[str]] = {name: [] for name in _HELP}
    for check in checks:
        account = f'account="{_escape(_label(check.account))}"'
        if check.changes is not None:
            for action, count in check.changes.items():
                lines["changes"].append(f'{{{account},action="{action}"}} {count}')
        if check.unmanaged is not None:
            lines["unmanaged"].append(f"{{{account}}} {check.unmanaged}")
        lines["exit_status"].append(f"{{{account}}} {check.status}")
        succeeded = now if check.status != FAILED else last_success.get(_label(check.account))
        if succeeded is not None:
            lines["last_success_timestamp_seconds"].append(f"{{{account}}} {succeeded:.3f}")
    lines["run_timestamp_seconds"].append(f" {now:.3f}")
    text = []
    for name, (kind, help_text) in _HELP.items():
        metric = f"{PREFIX}_{name}"
        text.append(f"# HELP {metric} {help_text}")
        text.append(f"# TYPE {metric} {kind}")
        text.extend(metric + sample for sample in lines[name])
    return "\n".join(text) + "\n"


def read_last_success(path: str) -> dict[str, float]:
    """The last-success times in the file a previous run wrote, by account label as written
    (see _label); nothing if there is none or it cannot be read (the new file is written all
    the same)."""
    try:
        text = read_bounded(path, PREVIOUS_MAX_BYTES)[:PREVIOUS_MAX_BYTES].decode(errors="replace")
    except OSError:
        return {}
    found = {}
    # Lines end at "\n" only, as in the text format: splitlines() would also cut at a CR, a
    # form feed or U+2028 inside a label and lose that account's entry.
    for line in text.split("\n"):
        match = _SAMPLE.match(line)
        if match:
            try:
                found[_unescape(match.group(1))] = float(match.group(2))
            except ValueError:
                continue
    return found


def check_path(path: str) -> None:
    """Refuse, before any call to Keap, a metrics path whose directory does not exist."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise HookctlError(f"--metrics-file {path}: directory {directory} does not exist")
    if os.path.isdir(path):
        raise HookctlError(f"--metrics-file {path}: is a directory")


def write_drift(path: str, outcomes: Sequence[Outcome[Planned]], now: float | None = None) -> None:
    """Write the metrics of a drift run to `path`, replacing the file atomically."""
    text = render(checks(outcomes), time.time() if now is None else now, read_last_success(path))
    try:
        # node_exporter's textfile collector reads it, whatever the umask; it skips the
        # temporary file, whose name does not end in .prom.
        write_atomically(path, text, mode=0o644, umask=False, what="the metrics")
    except HookctlError as exc:
        raise HookctlError(f"--metrics-file {exc}") from None
    logger.info("metrics written to %s", path)


def _label(value: str) -> str:
    """An account label as the metrics file shows it: the text format escapes only a
    backslash, a quote and a line feed, so every other control character (a CR from a client
    file's name) becomes U+FFFD instead of breaking the line for some parsers."""
    return _CONTROL.sub("\ufffd", value)


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)
