"""Properties of the planner over random desired and live states (duplicates, unmanaged and
ignored urls, every status): carried out by a tiny in-memory applier, a plan converges in one
round, never touches what it does not manage, and leaves no duplicate of a declared pair."""

from __future__ import annotations

import fnmatch
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from deepdiff import DeepDiff
from hypothesis import given, settings
from hypothesis import strategies as st

from hookctl.domain.models import STATUSES, DesiredState, Hook, Ownership, Safety, Subscription
from hookctl.domain.planner import Create, Delete, Plan, Update, Verify, field_diff, plan
from hookctl.errors import UnsafePlanError

BASE = "https://hooks.example.com"
EVENTS = ("contact.add", "contact.edit", "invoice.add")
URLS = (
    f"{BASE}/a",
    f"{BASE}/keap/b",
    f"{BASE}/keap/c",
    f"{BASE}/zap/d",
    "https://other.example.net/e",
)
IGNORE = "*/zap/*"


@st.composite
def states(draw: st.DrawFn) -> tuple[DesiredState, list[Hook]]:
    ignore = draw(st.sampled_from([(), (IGNORE,)]))
    declarable = [url for url in URLS if not (ignore and fnmatch.fnmatchcase(url, IGNORE))]
    pairs = draw(
        st.sets(st.tuples(st.sampled_from(EVENTS), st.sampled_from(declarable)), max_size=8)
    )
    ownership = Ownership(
        declared_urls=frozenset(url for _, url in pairs),
        url_prefixes=draw(st.sampled_from([(), (f"{BASE}/",), (f"{BASE}/keap/",)])),
        ignore=ignore,
        all=draw(st.booleans()),
    )
    desired = DesiredState(
        frozenset(Subscription(event, url, f"entry-{URLS.index(url)}") for event, url in pairs),
        ownership,
    )
    specs = draw(
        st.lists(
            st.tuples(st.sampled_from(EVENTS), st.sampled_from(URLS), st.sampled_from(STATUSES)),
            max_size=14,
        )
    )
    keys = draw(st.permutations(range(1, len(specs) + 1)))
    live = [Hook(str(key), *spec) for key, spec in zip(keys, specs, strict=True)]
    return desired, live


def simulate(the_plan: Plan, live: Sequence[Hook]) -> list[Hook]:
    """Keap after an apply in which every receiver answers the handshake (test-only)."""
    hooks = {hook.key: hook for hook in live}
    next_key = max((int(key) for key in hooks), default=0) + 1
    touched: set[str] = set()
    for change in the_plan.changes:
        if isinstance(change, Create):
            key, next_key = str(next_key), next_key + 1
            hooks[key] = Hook(key, change.event_key, change.hook_url, "Verified")
            continue
        assert change.existing is not None, "every change but a create touches a live hook"
        key = change.existing.key
        assert key not in touched, "a plan touches each subscription once"
        touched.add(key)
        before = hooks[key]
        assert before.status == change.status
        if isinstance(change, Update):
            assert before.pair == (change.old_event_key, change.old_hook_url)
            hooks[key] = Hook(key, change.event_key, change.hook_url, "Verified")
            continue
        assert before.pair == (change.event_key, change.hook_url)
        if isinstance(change, Verify):
            hooks[key] = replace(before, status="Verified")
        elif isinstance(change, Delete):
            del hooks[key]
    return list(hooks.values())


@settings(max_examples=300, deadline=None)
@given(states())
def test_one_apply_converges_without_duplicates_and_leaves_unmanaged_alone(
    state: tuple[DesiredState, list[Hook]],
) -> None:
    desired, live = state
    first = plan(desired, live)
    after = simulate(first, live)
    again = plan(desired, after)

    assert not again.has_changes
    declared = {sub.pair for sub in desired.subscriptions}
    copies = Counter(hook.pair for hook in after if hook.pair in declared)
    assert copies == Counter(declared), "every declared pair exactly once"
    assert all(hook.status == "Verified" for hook in after if hook.pair in declared)
    # Ownership as hooks.yaml defines it, independently of how the planner applies it.
    unmanaged = {
        hook
        for hook in live
        if hook.pair not in declared and not desired.ownership.manages(hook.hook_url)
    }
    assert set(first.unmanaged) == unmanaged == set(again.unmanaged)
    assert unmanaged <= set(after)
    assert {c.key for c in first.changes}.isdisjoint({hook.key for hook in unmanaged})


@settings(max_examples=200, deadline=None)
@given(states(), st.randoms(use_true_random=False))
def test_the_plan_accounts_for_every_live_hook_whatever_their_order(
    state: tuple[DesiredState, list[Hook]], rng: random.Random
) -> None:
    desired, live = state
    result = plan(desired, live)
    assert Counter(result.live_hooks()) == Counter(live)
    assert result.managed_count == len(live) - len(result.unmanaged)
    shuffled = list(live)
    rng.shuffle(shuffled)
    assert plan(desired, shuffled) == result
    order = [c.action for c in result.changes]
    assert order == sorted(order, key=("create", "update", "verify", "delete").index)


@settings(max_examples=200, deadline=None)
@given(states())
def test_each_change_holds_the_live_hook_and_the_declared_pair_the_planner_saw(
    state: tuple[DesiredState, list[Hook]],
) -> None:
    desired, live = state
    for change in plan(desired, live).changes:
        # The very objects it was given, not copies rebuilt from a change's fields.
        assert (change.existing is None) == isinstance(change, Create)
        assert change.existing is None or any(change.existing is hook for hook in live)
        assert (change.desired is None) == isinstance(change, Delete)
        assert change.desired is None or change.desired in desired.subscriptions
        if change.existing is not None:
            assert (change.key, change.status) == (change.existing.key, change.existing.status)
        if change.desired is not None:
            assert change.name == change.desired.name
            assert (change.event_key, change.hook_url) == change.desired.pair
        if isinstance(change, Verify):
            assert change.existing.pair == change.desired.pair
        if isinstance(change, Update):
            assert change.diff == field_diff(change.existing.pair, change.desired.pair) != ()


@settings(max_examples=200, deadline=None)
@given(states())
def test_safety_refuses_only_what_its_thresholds_say(
    state: tuple[DesiredState, list[Hook]],
) -> None:
    desired, live = state
    result = plan(replace(desired, safety=Safety(min_existing=1)), live)
    result.check_safety(force=True, allow_empty=True)
    counts, managed = result.summary(), result.managed_count
    # Extra copies of a declared pair are exempt; updates and deletes also count together.
    declared = {sub.pair for sub in desired.subscriptions}
    removed = sum(
        1
        for c in result.changes
        if c.action == "delete" and c.existing is not None and c.existing.pair not in declared
    )
    # ... but only up to min_existing copies of one pair.
    copies = Counter(
        c.existing.pair
        for c in result.changes
        if c.action == "delete" and c.existing is not None and c.existing.pair in declared
    )
    refused = (
        (not desired.subscriptions and counts["delete"] > 0)
        or max(copies.values(), default=0) > 1
        or (
            managed > 0
            and max(removed, counts["update"], removed + counts["update"]) / managed > 0.3
        )
    )
    try:
        result.check_safety()
    except UnsafePlanError:
        assert refused
    else:
        assert not refused


@settings(max_examples=200, deadline=None)
@given(st.tuples(st.text(), st.text()), st.tuples(st.text(), st.text()))
def test_field_diff_reports_what_deepdiff_reports(
    old: tuple[str, str], new: tuple[str, str]
) -> None:
    fields = ("event_key", "hook_url")
    tree = DeepDiff(
        dict(zip(fields, old, strict=True)), dict(zip(fields, new, strict=True)), view="tree"
    )
    expected = {
        (level.path(output_format="list")[-1], level.t1, level.t2)
        for level in tree.get("values_changed", [])
    }
    assert set(field_diff(old, new)) == expected
    assert len(field_diff(old, new)) == len(expected)


_TOKENS = ("", "t-1", "t-2")
_RECEIVERS = (f"{BASE}/keap/b", f"{BASE}/keap/c")


@settings(max_examples=200, deadline=None)
@given(
    live=st.lists(
        st.tuples(st.sampled_from(EVENTS), st.sampled_from(_RECEIVERS), st.sampled_from(_TOKENS)),
        max_size=6,
    ),
    declared=st.dictionaries(
        st.sampled_from(_RECEIVERS), st.sampled_from(_TOKENS), min_size=1, max_size=2
    ),
    prefixed=st.booleans(),
)
def test_a_plan_that_passes_the_safety_check_never_empties_a_live_token(
    live: list[tuple[str, str, str]], declared: dict[str, str], prefixed: bool
) -> None:
    hooks = [
        Hook(str(i), event, f"{url}?token={tok}", "Verified")
        for i, (event, url, tok) in enumerate(live, 1)
    ]
    subs = frozenset(
        Subscription(event, f"{url}?token={tok}", url.rsplit("/", 1)[1])
        for url, tok in declared.items()
        for event in EVENTS
    )
    ownership = Ownership(
        declared_urls=frozenset(sub.hook_url for sub in subs),
        url_prefixes=(f"{BASE}/",) if prefixed else (),
    )
    result = plan(DesiredState(subs, ownership, safety=Safety(min_existing=1000)), hooks)
    emptied = [
        c
        for c in result.changes
        if isinstance(c, Update)
        and c.old_hook_url.split("?")[0] == c.hook_url.split("?")[0]  # the same receiver
        and c.hook_url.endswith("token=")
        and not c.old_hook_url.endswith("token=")
    ]
    try:
        result.check_safety()
    except UnsafePlanError:
        assert emptied
    else:
        assert not emptied
    # A token changed and nothing else is shown as a rotation, on the same entry.
    for change in result.changes:
        if isinstance(change, Update) and change.rotation:
            assert change.old_event_key == change.event_key
            assert change.old_hook_url.split("?")[0] == change.hook_url.split("?")[0]
