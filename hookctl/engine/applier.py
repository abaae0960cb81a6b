"""The applier: the only code that writes to Keap.

It carries out a Plan in a fixed order — creates and updates, then verifies, then deletes — so
that a receiver that moved never misses events between the old subscription and the new one.
Within a phase, changes run concurrently up to `parallelism`; the client paces all of them on
Keap's throttle headers. A failed change never stops the others, and every step is safe to
repeat: a rerun after any failure finishes the job without making a duplicate.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from hookctl.domain.models import DesiredState, Hook
from hookctl.domain.planner import Change, Create, Delete, Plan, Update, Verify, plan
from hookctl.domain.results import ApplyReport, Outcome
from hookctl.domain.urls import is_masked
from hookctl.errors import HookctlError, NotFoundError
from hookctl.keap.client import Keap
from hookctl.system.interrupts import check_interrupted, interrupt

logger = logging.getLogger(__name__)

PHASES: tuple[tuple[type, ...], ...] = ((Create, Update), (Verify,), (Delete,))


def apply(
    the_plan: Plan,
    keap: Keap,
    desired: DesiredState,
    live: Sequence[Hook],
    *,
    parallelism: int = 4,
    dry_run: bool = False,
    progress: Callable[[Outcome], None] | None = None,
) -> ApplyReport:
    """Carry out `the_plan` against the account `keap` talks to.

    `live` is what the account held when the plan was checked against it; a change it shows to
    be in place already is skipped rather than written twice, and a key it shows holding
    another subscription than the plan saw is left alone.
    """
    if dry_run:
        planned = tuple(
            Outcome(change, "planned", "dry run: not sent") for change in the_plan.changes
        )
        return ApplyReport(outcomes=planned, after=None, dry_run=True)

    by_key = {hook.key: hook for hook in live}
    pairs = {hook.pair for hook in live}
    outcomes: list[Outcome] = []
    pool = ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="apply")
    # Writes run in the caller's context (a copy each), so that their log lines still say
    # which account they are about.
    caller = contextvars.copy_context()
    try:
        for phase in PHASES:
            batch = [c for c in the_plan.changes if isinstance(c, phase)]
            for outcome in pool.map(
                lambda c: caller.copy().run(_run, c, keap, by_key, pairs), batch
            ):
                outcomes.append(outcome)
                if progress is not None:
                    progress(outcome)
    except KeyboardInterrupt:
        # A write waiting on Keap (a Retry-After) stops waiting, so that shutdown is quick.
        interrupt()
        raise
    finally:
        # On Ctrl-C the writes in flight finish and none still queued is sent; a rerun plans
        # again and does the rest.
        pool.shutdown(wait=True, cancel_futures=True)

    try:
        after = plan(desired, keap.list())
    except HookctlError as exc:
        logger.error("could not list the hooks after applying: %s", exc)
        after = None
    return ApplyReport(outcomes=tuple(outcomes), after=after)


def _run(
    change: Change,
    keap: Keap,
    by_key: dict[str, Hook],
    pairs: set[tuple[str, str]],
) -> Outcome:
    try:
        # Ctrl-C reaches only the main thread: a write queued behind it is not sent.
        check_interrupted()
        return _write(change, keap, by_key, pairs)
    except HookctlError as exc:
        logger.debug("%s %s failed: %s", change.action, change.name, exc)
        return Outcome(change, "failed", str(exc))


def _write(
    change: Change,
    keap: Keap,
    by_key: dict[str, Hook],
    pairs: set[tuple[str, str]],
) -> Outcome:
    target = (change.event_key, change.hook_url)
    if isinstance(change, (Create, Update)) and is_masked(change.hook_url):
        # A plan read back from a file shows urls masked; sent, it would subscribe a url that
        # only looks like the receiver's.
        return Outcome(change, "failed", "the url is masked: it was not sent to Keap")
    seen = change.existing  # the subscription as the plan saw it; None for a create
    if seen is None:
        if target in pairs:
            return Outcome(change, "skipped", "already exists")
        return _verified(change, keap.create(*target))
    current = by_key.get(seen.key)
    if isinstance(change, Delete) and current is None:
        return Outcome(change, "skipped", "already gone")
    if isinstance(change, Update) and current is not None and current.pair == target:
        return Outcome(change, "skipped", "already updated", current)
    if current is not None and current.pair != seen.pair:
        # The key now holds another subscription than the plan saw (changed by hand since):
        # writing to it could change or delete what hookctl no longer manages.
        return Outcome(
            change,
            "skipped",
            f"changed since the plan was made (now {current.event_key} {current.hook_url}); "
            "plan again",
            current,
        )
    if isinstance(change, Update):
        hook = keap.update(seen.key, *target)
        if hook.status != "Verified":
            # Keap need not run the handshake on a PUT (the sandbox, like Keap most plausibly,
            # does only when the hookUrl changes), so an Unverified or Inactive subscription
            # moved onto a declared pair would stay that way: one verify settles it.
            hook = keap.verify(seen.key)
        return _verified(change, hook)
    if isinstance(change, Verify):
        if current is not None and current.status == "Verified":
            return Outcome(change, "skipped", "already verified", current)
        return _verified(change, keap.verify(seen.key))
    try:
        keap.delete(seen.key)
    except NotFoundError:
        return Outcome(change, "skipped", "already gone")
    return Outcome(change, "done")


def _verified(change: Change, hook: Hook) -> Outcome:
    if hook.status == "Verified":
        return Outcome(change, "done", hook=hook)
    return Outcome(
        change,
        "unverified",
        f"{hook.status}: the receiver did not answer Keap's X-Hook-Secret handshake",
        hook,
    )
