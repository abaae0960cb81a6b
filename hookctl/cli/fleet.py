"""`plan`/`drift --format html`: the fleet health page (hookctl.formats.html) built from the
runner's results and written to `-o FILE` (atomically) or stdout."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime, timezone

from hookctl.cli.arguments import version
from hookctl.engine.runner import Planned
from hookctl.engine.selection import Outcome
from hookctl.formats.html import AccountRow, page
from hookctl.system.files import write_atomically

__all__ = ["rows", "write_page"]


def rows(outcomes: Sequence[Outcome[Planned]]) -> list[AccountRow]:
    """One row per account, in the order of the run: its plan, or the error that stopped it
    (a plan that apply would refuse is shown with the refusal)."""
    found = []
    for outcome in outcomes:
        planned = outcome.value
        error = outcome.error or (planned.refusal if planned is not None else None)
        quota = planned.quota if planned is not None else None
        found.append(
            AccountRow(
                label=outcome.selected.label,
                source=outcome.selected.source,
                plan=planned.plan if planned is not None else None,
                live=planned.live if planned is not None else (),
                error=str(error) if error is not None else None,
                quota_available=quota.available if quota is not None else None,
                quota_limit=quota.limit if quota is not None else None,
                seconds=outcome.seconds,
            )
        )
    return found


def write_page(path: str | None, command: str, outcomes: Sequence[Outcome[Planned]]) -> None:
    """The page for `outcomes`, to `path` (None: stdout), and on stderr where it went."""
    found = rows(outcomes)
    text = page(found, command=command, generated_at=datetime.now(timezone.utc), version=version())
    if path is None:
        sys.stdout.write(text)
        return
    write_atomically(path, text, what="the fleet page")
    states = [row.state for row in found]
    print(
        f"hookctl: wrote {path}: {len(found)} accounts, {states.count('in sync')} in sync, "
        f"{states.count('drifted')} drifted, {states.count('failed')} failed",
        file=sys.stderr,
    )
