"""The runner: validate, plan, apply and drift over the accounts of hooks files.

It takes the selected accounts (engine.selection), builds each account's client, runs each
account's work side by side and returns what each gave: what the account wants, what it has,
the plan and the url that saw it, or the error that stopped it. It never prints and never
reads command-line arguments: the CLI turns those into Options and renders the results.

Apply comes in two steps, so that the CLI can show the plans and ask between them: prepare
(plan every account, check that a saved plan lists exactly the changes of the plan just made
and that every plan is safe) and execute (carry the plans out). Nothing given to the runner is
changed: a check returns the plan to use, which is always the plan the runner made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from hookctl.domain.models import DEFAULT_API_URL, Account, DesiredState, Hook
from hookctl.domain.planner import Plan, Update, limited_to_entries
from hookctl.domain.planner import plan as make_plan
from hookctl.domain.results import ApplyReport
from hookctl.domain.results import Outcome as ChangeOutcome
from hookctl.domain.urls import UrlProblem, is_loopback, parse_url
from hookctl.engine import planfile, selection
from hookctl.engine.applier import apply as apply_plan
from hookctl.engine.planfile import SavedRun
from hookctl.engine.probe import PROBED_ACTIONS, Probe, probe_all
from hookctl.engine.selection import Choosing, Outcome, Selected
from hookctl.errors import ConfigError, HookctlError
from hookctl.keap.client import ClientSettings, Keap, resolve_api_url
from hookctl.keap.transport import Connections
from hookctl.keap.waits import (
    DEFAULT_ACCOUNT_PARALLELISM,
    DEFAULT_MAX_RATE,
    DEFAULT_MAX_WAIT,
    Quota,
)
from hookctl.system.interrupts import check_interrupted

__all__ = [
    "Options",
    "Planned",
    "Prepared",
    "Progress",
    "api_url",
    "api_url_of",
    "calls_needed",
    "check",
    "check_quota",
    "client",
    "drift",
    "execute",
    "plan",
    "prepare",
    "save",
    "save_all",
    "validate",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Connections kept per client when only reading; apply's clients keep one per parallel write.
READ_POOL_SIZE = 8

# Called after each write an account's apply makes.
Progress = Callable[[ChangeOutcome], None]
# Called with an account's plan and the daily quota Keap last reported for it.
OnQuota = Callable[[Selected, "Planned", Quota | None], None]


@dataclass(frozen=True)
class Options:
    """How a run goes: what the command line says, once, for every account."""

    # --api-url: overrides $KEAP_API_URL and every account's own url (keap.client.resolve_api_url).
    api_url: str | None = None
    # Writes in flight at once in one account.
    parallelism: int = 4
    # Accounts worked on at once, each with its own client and rate budget.
    account_parallelism: int = DEFAULT_ACCOUNT_PARALLELISM
    # Processes using one OAuth app at once (a CI matrix): each takes this part of its limit.
    app_share: int = 1
    # Lifts the safety thresholds' ratio limits.
    force: bool = False
    # Lets a desired state with no hooks delete every managed subscription.
    allow_empty: bool = False
    # apply: say what would be sent, send nothing.
    dry_run: bool = False
    # validate: check event keys against the built-in list instead of the account's.
    offline: bool = False
    # plan, apply, drift: only the hooks.yaml entries these names (shell globs) match.
    entry_patterns: tuple[str, ...] = ()
    # plan: run Keap's handshake with the url of every create, update and verify (engine.probe).
    probe: bool = False
    # plan --probe: probe private, link-local and other non-public addresses too.
    allow_private: bool = False
    # The longest wait Keap may ask for (Retry-After, throttle headers), in seconds; a longer
    # one ends the account's work with an error saying until when.
    max_wait: float = DEFAULT_MAX_WAIT
    # apply: writes started a second, at most; None: DEFAULT_MAX_RATE, except against an API
    # on this machine (the sandbox), which has no spike limit to stay under.
    max_rate: float | None = None


@dataclass(frozen=True)
class Planned:
    """One account, planned: what it wants, what it had, the plan, and the url that saw it."""

    desired: DesiredState
    live: tuple[Hook, ...]
    plan: Plan
    api_url: str
    # From plan(): why apply would refuse this plan (the safety thresholds), if it would.
    refusal: HookctlError | None = None
    # From plan() with Options.probe: the handshake's outcome by url, for the urls of the
    # changes that make Keap run it (create, update, verify).
    probes: Mapping[str, Probe] | None = None
    # Keap's daily quota as the account's last answer reported it, when it reported one.
    quota: Quota | None = None


# -- clients -----------------------------------------------------------------------


def api_url(options: Options, account: Account | None) -> str:
    """The url an account's client calls (keap.client.resolve_api_url says in what order)."""
    return resolve_api_url(options.api_url, account.api_url if account else None)


def loopback_api(url: str | None) -> bool:
    """Whether an account's API url (None: the default) is on loopback: the sandbox, whose
    receivers live on loopback too, so a probe may go there. The url is the one the run sends
    credentials to, where `--api-url`/`KEAP_API_URL` wins over the hooks file."""
    parts = parse_url(url or DEFAULT_API_URL, userinfo=True)
    return not isinstance(parts, UrlProblem) and is_loopback(parts.hostname or "")


def client(
    options: Options,
    account: Account | None,
    pool_size: int = READ_POOL_SIZE,
    connections: Connections | None = None,
) -> Keap:
    """A client for `account` (None: the credentials of the environment), on `connections`
    when given. The only place one is built."""
    settings = ClientSettings(
        api_key_env=account.api_key_env if account else None,
        access_token_env=account.access_token_env if account else None,
        oauth=account.oauth if account else None,
        app_share=options.app_share,
        pool_size=pool_size,
        max_wait=options.max_wait,
        max_rate=_max_rate(options, account),
    )
    return Keap(api_url(options, account), settings=settings, connections=connections)


def _max_rate(options: Options, account: Account | None) -> float | None:
    if options.max_rate is not None:
        return options.max_rate
    # A url that does not parse is not loopback: the client refuses it, saying why.
    return None if loopback_api(api_url(options, account)) else DEFAULT_MAX_RATE


def api_url_of(options: Options) -> Callable[[Account], str]:
    """The url each account's client calls."""
    return lambda account: api_url(options, account)


# -- validate, plan, drift ---------------------------------------------------------------------


def validate(chosen: Sequence[Selected], options: Options) -> list[Outcome[DesiredState]]:
    """Every account's desired state, its event keys checked against the account's event types
    (or, offline, the built-in list)."""

    def work(selected: Selected) -> DesiredState:
        if options.offline:
            return selected.desired()
        with client(options, selected.account) as keap:
            return selected.desired(keap.event_types)

    return selection.run_each(chosen, work, options.account_parallelism)


def plan(chosen: Sequence[Selected] | Choosing, options: Options) -> list[Outcome[Planned]]:
    """Every account planned, with why apply would refuse its plan under `options`. `chosen`
    may still have to read its files (selection.run_each): each account's plan then starts as
    soon as its file is read, and an error reading a later one ends the run with no result."""

    def judge(selected: Selected, planned: Planned) -> Planned:
        if options.probe:
            urls = (c.hook_url for c in planned.plan.changes if c.action in PROBED_ACTIONS)
            found = probe_all(
                urls,
                allow_private=options.allow_private,
                allow_loopback=loopback_api(planned.api_url),
            )
            planned = replace(planned, probes=found)
        try:
            planned.plan.check_safety(force=options.force, allow_empty=options.allow_empty)
        except HookctlError as exc:
            return replace(planned, refusal=exc)
        return planned

    return _read_each(chosen, options, judge, on_quota=_warn_if_low)


def _warn_if_low(selected: Selected, planned: Planned, quota: Quota | None) -> None:
    if quota is not None and quota.low:
        logger.warning("%s: %s", selected.label, quota.describe())


def calls_needed(the_plan: Plan) -> int:
    """The most calls applying `the_plan` makes: each write (an update may need a verify
    after it) and the list that checks the account afterwards."""
    return sum(2 if isinstance(change, Update) else 1 for change in the_plan.changes) + 1


def check_quota(the_plan: Plan, quota: Quota | None) -> None:
    """HookctlError, before the first write, when the daily quota left cannot cover the plan:
    an apply that runs out half way leaves the account half done until the quota resets."""
    if quota is None or not the_plan.changes:
        return
    needed = calls_needed(the_plan)
    if needed > quota.available:
        raise HookctlError(
            f"Keap's daily quota is too low for this apply: it needs up to {needed} calls and "
            f"{quota.available} of {quota.limit} are left until "
            f"{quota.resets_at:%Y-%m-%d %H:%M} UTC; nothing was written (apply fewer changes "
            "with --target, or after the reset)"
        )


def drift(chosen: Sequence[Selected] | Choosing, options: Options) -> list[Outcome[Planned]]:
    """Every account planned: an account whose plan has changes has drifted. `chosen` may
    still have to read its files, as in plan."""
    return _read_each(chosen, options)


def save(path: str, selected: Selected, planned: Planned) -> None:
    """Save an account's plan for a later `hookctl apply PATH`."""
    save_all(path, [(selected, planned)], several=False)


def save_all(
    path: str, accounts: Sequence[tuple[Selected, Planned]], *, several: bool = True
) -> None:
    """Save the plans of a run for a later `hookctl apply PATH`: one account's alone (format 2),
    or, when the run covers several, every account's in one file (format 3)."""
    found = [
        planfile.ToSave(
            label=selected.label,
            plan=planned.plan,
            config_digest=planfile.desired_digest(planned.desired),
            live_fingerprint=planfile.fingerprint(planned.live, planned.desired.account),
            source=selected.source,
            api_url=planned.api_url,
            account=selected.account.name,
            credentials=planned.desired.account,
        )
        for selected, planned in accounts
    ]
    if several:
        planfile.write_all(path, found)
        return
    (one,) = found
    planfile.write_one(path, one)


# -- apply -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """apply's first step: every account planned and checked. The accounts ready to apply keep
    their client (and what it learnt of Keap's throttling) open for execute, until close()."""

    outcomes: tuple[Outcome[Planned], ...]
    _clients: Mapping[str, Keap] = field(default_factory=dict, repr=False, compare=False)

    @property
    def blocked(self) -> bool:
        """Whether a hooks file has errors: then nothing is applied to any account, so that
        fixing the file and running again is all it takes."""
        return any(isinstance(outcome.error, ConfigError) for outcome in self.outcomes)

    @property
    def ready(self) -> list[tuple[Selected, Planned]]:
        """The accounts planned and checked, in the order they were selected."""
        return [(o.selected, o.value) for o in self.outcomes if o.value is not None]

    @property
    def pending(self) -> list[tuple[Selected, Planned]]:
        """The ready accounts whose plan has changes."""
        return [(selected, planned) for selected, planned in self.ready if planned.plan.changes]

    def close(self) -> None:
        for keap in self._clients.values():
            keap.close()

    def __enter__(self) -> Prepared:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check(
    selected: Selected, planned: Planned, options: Options, saved: SavedRun | None = None
) -> Planned:
    """The account as apply is to carry it out, refused (UnsafePlanError) beyond the safety
    thresholds of hooks.yaml and `options`. With a saved plan, the plan carried out is still
    the one just made, and only if the saved plan lists exactly its changes, for the same
    account, API url, desired state and live subscriptions (PlanError or StalePlanError
    otherwise): a plan file records what was reviewed and is never itself carried out."""
    if saved is not None:
        planfile.ensure_fresh(
            selection.saved_plan_for(saved, selected),
            planned.plan,
            planfile.desired_digest(planned.desired),
            planned.live,
            api_url=planned.api_url,
            credentials=planned.desired.account,
        )
    planned.plan.check_safety(force=options.force, allow_empty=options.allow_empty)
    return planned


def prepare(
    chosen: Sequence[Selected], options: Options, saved: SavedRun | None = None
) -> Prepared:
    """Plan and check every account (see check); nothing is written. Close what it returns."""
    outcomes = _plan_each(
        chosen,
        options,
        pool_size=options.parallelism,
        judge=lambda selected, planned: check(selected, planned, options, saved),
        # A dry run sends nothing, so needs no quota.
        on_quota=None
        if options.dry_run
        else lambda _, planned, quota: check_quota(planned.plan, quota),
    )
    return Prepared(
        tuple(_without_client(outcome) for outcome in outcomes),
        {o.selected.label: o.value[1] for o in outcomes if o.value is not None},
    )


def execute(
    prepared: Prepared,
    options: Options,
    progress: Callable[[Selected], Progress | None] | None = None,
) -> list[Outcome[ApplyReport]]:
    """Carry out the prepared plans, accounts side by side: a report, or the error that stopped
    it, for each ready account in order. An account without changes gets an empty report and
    no call. `progress(selected)` gives what is called after each of that account's writes;
    between writes, every account stops once the run is interrupted."""
    if prepared.blocked:
        raise HookctlError("a hooks file has errors: nothing is to be applied")
    ready = {selected.label: planned for selected, planned in prepared.ready}

    def work(selected: Selected) -> ApplyReport:
        planned = ready[selected.label]
        show = progress(selected) if progress is not None else None

        def step(outcome: ChangeOutcome) -> None:
            check_interrupted()
            if show is not None:
                show(outcome)

        report = apply_plan(
            planned.plan,
            prepared._clients[selected.label],
            planned.desired,
            planned.live,
            parallelism=options.parallelism,
            dry_run=options.dry_run,
            progress=step,
        )
        if report.after is None or not options.entry_patterns:
            return report
        # Whether the account now matches is asked of the targeted entries only.
        after = limited_to_entries(report.after, planned.desired, options.entry_patterns)
        return replace(report, after=after)

    pending = [selected for selected, _ in prepared.pending]
    applied = {
        o.selected.label: o for o in selection.run_each(pending, work, options.account_parallelism)
    }
    return [
        applied.get(selected.label) or Outcome(selected, value=ApplyReport((), after=planned.plan))
        for selected, planned in prepared.ready
    ]


# -- planning each account ---------------------------------------------------------------------


def _plan_each(
    chosen: Sequence[Selected] | Choosing,
    options: Options,
    *,
    pool_size: int = READ_POOL_SIZE,
    judge: Callable[[Selected, Planned], Planned] | None = None,
    on_quota: OnQuota | None = None,
    keep_open: bool = True,
    connections: Connections | None = None,
) -> list[Outcome[tuple[Planned, Keap]]]:
    """Plan every selected account side by side, each with its own client, left open for the
    caller (closed in the account's own thread, while others wait on Keap, unless
    `keep_open`). `judge` runs in the account's thread and returns the account as it is to be
    used, or refuses it; then `on_quota` is given the daily quota Keap last reported (and may
    refuse too)."""

    def work(selected: Selected) -> tuple[Planned, Keap]:
        keap = client(options, selected.account, pool_size, connections)
        try:
            # The account's event types are fetched only when the file needs them.
            desired = selected.desired(keap.event_types)
            live = tuple(keap.list())
            made = limited_to_entries(make_plan(desired, live), desired, options.entry_patterns)
            planned = Planned(desired, live, made, keap.api_url, quota=keap.quota)
            if judge is not None:
                planned = judge(selected, planned)
            if on_quota is not None:
                on_quota(selected, planned, keap.quota)
        except BaseException:
            keap.close()
            raise
        if not keep_open:
            keap.close()
        return planned, keap

    return selection.run_each(chosen, work, options.account_parallelism)


def _read_each(
    chosen: Sequence[Selected] | Choosing,
    options: Options,
    judge: Callable[[Selected, Planned], Planned] | None = None,
    on_quota: OnQuota | None = None,
) -> list[Outcome[Planned]]:
    """Plan every selected account for reading only: the clients are closed, and share their
    connections (one account after another reuses them instead of a new one each)."""
    with Connections(options.account_parallelism) as connections:
        outcomes = _plan_each(
            chosen,
            options,
            judge=judge,
            on_quota=on_quota,
            keep_open=False,
            connections=connections,
        )
    return [_without_client(outcome) for outcome in outcomes]


def _without_client(outcome: Outcome[tuple[Planned, T]]) -> Outcome[Planned]:
    value = outcome.value[0] if outcome.value is not None else None
    return Outcome(outcome.selected, value, outcome.error, outcome.seconds)
