"""What a run found or did, as values the formats render and the engine returns: each
change's outcome in an apply, and each url's answer to a probe's handshake."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from hookctl.domain.models import Hook
from hookctl.domain.planner import Change, Plan

Result = Literal["done", "skipped", "unverified", "failed", "planned"]


@dataclass(frozen=True)
class Outcome:
    """What happened to one change."""

    change: Change
    result: Result
    detail: str = ""
    hook: Hook | None = None


@dataclass(frozen=True)
class ApplyReport:
    """Every change's outcome, and what the account looked like afterwards."""

    outcomes: tuple[Outcome, ...]
    after: Plan | None
    dry_run: bool = False

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.result in ("failed", "unverified"))

    @property
    def converged(self) -> bool:
        return self.after is not None and not self.after.changes

    @property
    def ok(self) -> bool:
        return self.dry_run or (not self.failed and self.converged)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.result] = counts.get(outcome.result, 0) + 1
        return counts


ProbeOutcome = Literal[
    "ok",
    "delayed",
    "no echo",
    "wrong status",
    "redirect",
    "timeout",
    "unreachable",
    "TLS error",
    "refused",
]
# Every outcome, in the order reports list them: the Literal's own, so the two cannot drift.
OUTCOMES: tuple[ProbeOutcome, ...] = get_args(ProbeOutcome)
# The changes of a plan after which Keap runs the handshake with the change's url.
PROBED_ACTIONS = frozenset({"create", "update", "verify"})


@dataclass(frozen=True, slots=True)
class Probe:
    """What one url answered to the handshake, and how long it took."""

    url: str
    outcome: ProbeOutcome
    seconds: float
    # The status answered, when there was an answer.
    status: int | None = None
    # hookctl's own words on the outcome, safe to show: a redirect's Location in it is
    # masked already.
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def milliseconds(self) -> int:
        return round(self.seconds * 1000)

    @property
    def label(self) -> str:
        """'no echo, 12 ms': the outcome and the time, as a plan shows it beside a change."""
        return f"{self.outcome}, {self.milliseconds} ms"


@dataclass(frozen=True, slots=True)
class Declared:
    """One url to probe, with the hooks.yaml entries and the accounts that declare it."""

    url: str
    names: tuple[str, ...]
    accounts: tuple[str, ...]
