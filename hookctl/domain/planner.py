"""The planner: compare what hooks.yaml declares with what Keap lists, as ordered changes.

Pure (no I/O), in the spirit of octoDNS: `plan(desired, live)` returns a `Plan` whose changes
the applier runs in order. Every live subscription lands in exactly one place of the plan
(unchanged, unmanaged, or the `existing` side of the change that touches it), so a plan also
records what it saw. JSON documents of plans are built in hookctl/documents.py.

Matching is done with dict and set indexes in one pass over each side; nothing is quadratic.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from itertools import pairwise
from operator import attrgetter
from typing import ClassVar, Literal

from hookctl.domain.models import (
    DesiredState,
    Hook,
    Ownership,
    Safety,
    Status,
    Subscription,
    keeper,
    key_order,
)
from hookctl.domain.urls import mask_url, receiver_key, removed_secrets
from hookctl.errors import PlanError, UnsafePlanError

Action = Literal["create", "update", "verify", "delete"]
# Also the order in which the applier runs them: a receiver that moved gets its new
# subscription before the old one goes, so no event is missed in between.
ACTIONS: tuple[Action, ...] = ("create", "update", "verify", "delete")

Pair = tuple[str, str]
# (field, old value, new value), the field named as in the JSON plan.
FieldDiff = tuple[tuple[str, str, str], ...]


def field_diff(old: Pair, new: Pair) -> FieldDiff:
    """The fields an update changes, as (field, old, new).

    This is what `DeepDiff(old_record, new_record)` reports under `values_changed` for these
    flat two-field records (a test checks the two agree). DeepDiff itself costs about 130 us
    per update plus 120 ms to import, which alone would exceed the planner's time budget at
    10,000 updates, so the comparison is done directly.
    """
    # Spelled out rather than zipped: the JSON and text renderers call it for every update.
    (old_event, old_url), (new_event, new_url) = old, new
    if old_event == new_event:
        return () if old_url == new_url else (("hook_url", old_url, new_url),)
    if old_url == new_url:
        return (("event_key", old_event, new_event),)
    return (("event_key", old_event, new_event), ("hook_url", old_url, new_url))


@dataclass(frozen=True, slots=True)
class Change:
    """One change: the live subscription it touches and the declared pair it makes true.

    `existing` is the subscription as Keap listed it (None for a create); `desired` is the
    declared pair that holds afterwards (None for a delete). `name` is the hooks.yaml entry
    the change is for: the declaring entry, even for a delete of a duplicate copy. The other
    attributes (key, event_key, status, ...) are read from these two, so the JSON documents
    keep their shape and nothing is stored twice.
    """

    action: ClassVar[Action]

    name: str | None
    reason: str
    existing: Hook | None
    desired: Subscription | None

    @property
    def key(self) -> str | None:
        """Keap's key of the subscription touched; None for a create."""
        existing = self.existing
        return None if existing is None else existing.key

    @property
    def status(self) -> Status | None:
        """Keap's status of the subscription touched, before the change; None for a create."""
        existing = self.existing
        return None if existing is None else existing.status

    @property
    def event_key(self) -> str:
        """The event after the change (the one deleted, for a delete)."""
        desired = self.desired
        return desired.event_key if desired is not None else self._deleted().event_key

    @property
    def hook_url(self) -> str:
        """The url after the change (the one deleted, for a delete)."""
        desired = self.desired
        return desired.hook_url if desired is not None else self._deleted().hook_url

    def _deleted(self) -> Hook:
        if self.existing is None:
            raise TypeError(f"{type(self).__name__} touches no subscription and declares none")
        return self.existing


@dataclass(frozen=True, slots=True)
class Create(Change):
    """POST a declared (eventKey, hookUrl) that no live subscription has."""

    action: ClassVar[Literal["create"]] = "create"

    name: str
    existing: None
    desired: Subscription


@dataclass(frozen=True, slots=True)
class Update(Change):
    """PUT a managed subscription that is no longer declared onto a declared pair.

    Keap runs the verification handshake again after a PUT (assumed: it does so on create and
    on verify, and an update changes where events go), so no Verify is planned after it.
    """

    action: ClassVar[Literal["update"]] = "update"

    name: str
    existing: Hook
    desired: Subscription

    @property
    def old_event_key(self) -> str:
        return self.existing.event_key

    @property
    def old_hook_url(self) -> str:
        return self.existing.hook_url

    @property
    def diff(self) -> FieldDiff:
        """The fields the update changes, as (field, old, new)."""
        return field_diff(self.existing.pair, self.desired.pair)

    @property
    def rotation(self) -> bool:
        """Whether only the hidden parts of the url change (a token rotated), as mask_url
        shows them: same event, same receiver, new fingerprints."""
        old, new = self.existing, self.desired
        return (
            old.event_key == new.event_key
            and old.hook_url != new.hook_url
            and receiver_key(old.hook_url) == receiver_key(new.hook_url)
            and not removed_secrets(old.hook_url, new.hook_url)
        )


@dataclass(frozen=True, slots=True)
class Verify(Change):
    """POST /verify on a declared subscription that is Unverified or Inactive."""

    action: ClassVar[Literal["verify"]] = "verify"

    name: str
    existing: Hook
    desired: Subscription


@dataclass(frozen=True, slots=True)
class Delete(Change):
    """DELETE a managed subscription that is not declared, or a duplicate of a declared one."""

    action: ClassVar[Literal["delete"]] = "delete"

    existing: Hook
    desired: None

    @property
    def duplicate(self) -> bool:
        """An extra copy of a declared pair, which names the entry that declares the pair (an
        undeclared subscription's delete names none). Deleting it loses nothing: the kept copy
        goes on delivering the same events to the same url."""
        return self.name is not None


@dataclass(frozen=True, slots=True)
class Plan:
    """What to change in Keap, in apply order, and what was seen but left alone."""

    changes: tuple[Change, ...]
    unchanged: tuple[Hook, ...]
    unmanaged: tuple[Hook, ...]
    managed_count: int
    declared_count: int
    safety: Safety = field(default_factory=Safety)
    # With --target: the entry patterns (globs) the plan is limited to, and the live
    # subscriptions it leaves alone for that reason (see `limited_to_entries`).
    entry_patterns: tuple[str, ...] = ()
    left_out: tuple[Hook, ...] = ()

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        for change in self.changes:
            counts[change.action] += 1
        return {**counts, "unchanged": len(self.unchanged), "unmanaged": len(self.unmanaged)}

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def live_hooks(self) -> tuple[Hook, ...]:
        """Every live subscription the plan was made from, as Keap listed it, in key order."""
        seen = [*self.unchanged, *self.unmanaged, *self.left_out]
        seen.extend(change.existing for change in self.changes if change.existing is not None)
        return tuple(sorted(seen, key=_hook_order))

    def check_safety(self, *, force: bool = False, allow_empty: bool = False) -> None:
        """Refuse (UnsafePlanError) a plan that changes more than the safety thresholds allow.

        `force` lifts the ratio limits; it does not lift the empty-state rule, which only
        `allow_empty` does, since emptying hooks.yaml by mistake is the costliest slip.
        """
        if not force:
            self._check_no_secret_stripped()
        deletes = self.count("delete")
        if self.declared_count == 0 and deletes and not allow_empty:
            raise UnsafePlanError(
                f"refusing to delete {deletes} of {self.managed_count} managed subscriptions: "
                "the desired state declares no hooks at all; use --allow-empty if that is intended"
            )
        if force:
            return
        # Deleting an extra copy of a declared pair loses nothing, but racing applies leave a
        # copy or two of a pair, never dozens: past min_existing copies of one pair, the list
        # is the answer's doing, not ours, and the plan is refused.
        copies = Counter(
            (c.event_key, c.hook_url) for c in self.changes if isinstance(c, Delete) and c.duplicate
        )
        most = max(copies.values(), default=0)
        if most > self.safety.min_existing:
            raise UnsafePlanError(
                f"refusing a plan that would delete {most} extra copies of one declared "
                f"subscription (limit {self.safety.min_existing} a subscription); "
                "check them, then use --force to apply it anyway"
            )
        if self.managed_count < self.safety.min_existing:
            return
        # Extra copies of a declared pair are exempt: deleting one loses nothing. Updates and
        # deletes are also counted together, so that 3 of each out of 12 cannot pass two 30%
        # limits that each of them alone stays under.
        removed = sum(1 for c in self.changes if isinstance(c, Delete) and not c.duplicate)
        updated = self.count("update")
        safety = self.safety
        checks: tuple[tuple[str, int, float], ...] = (
            ("delete", removed, safety.max_delete_ratio),
            ("update", updated, safety.max_update_ratio),
        )
        if not any(count / self.managed_count > limit for _, count, limit in checks):
            limit = max(safety.max_update_ratio, safety.max_delete_ratio)
            checks = (("update or delete", updated + removed, limit),)
        excess = [
            f"{verb} {count} of {self.managed_count} managed subscriptions "
            f"({count / self.managed_count:.0%}, limit {limit:.0%})"
            for verb, count, limit in checks
            if count / self.managed_count > limit
        ]
        if excess:
            raise UnsafePlanError(
                f"refusing a plan that would {' and '.join(excess)}; "
                "check it, then use --force to apply it anyway"
            )

    def _check_no_secret_stripped(self) -> None:
        """Refuse an update that keeps the receiver but removes or empties a token its live
        url has: that locks the receiver out (Keap signs nothing, the url's token is its only
        secret). An entry may allow it (`allow_url_stripping: true`), and --force does."""
        variables = dict(self.safety.url_variables)
        for change in self.changes:
            if not isinstance(change, Update) or change.name in self.safety.url_stripping:
                continue
            removed = removed_secrets(change.old_hook_url, change.hook_url)
            if removed:
                used = variables.get(change.name, ())
                through = f" (its url is built with {', '.join(used)})" if used else ""
                fix = f"set {', '.join(used)}" if used else "put the token back in its url"
                raise UnsafePlanError(
                    f"refusing to remove the {', '.join(removed)} from the live url of entry "
                    f"{change.name!r}{through}: {mask_url(change.old_hook_url)} would become "
                    f"{mask_url(change.hook_url)} and its receiver would lose its token; {fix}, "
                    "or say `allow_url_stripping: true` on the entry (or use --force) if that "
                    "is intended"
                )


def plan(desired: DesiredState, live: Sequence[Hook]) -> Plan:
    """Compare the desired state with the hooks `list()` returned and say what to change."""
    # The steps below make as few objects the garbage collector tracks as they can (string
    # sort keys, lists only for duplicated pairs): at 20,000 hooks one full collection, which
    # scans every live object, costs half as much as the whole plan.
    declared = _index_declared(desired.subscriptions)
    entry_of_url: dict[str, str] = {}  # the first entry, by name, that declares the url
    for sub in declared.values():
        if sub.name < entry_of_url.setdefault(sub.hook_url, sub.name):
            entry_of_url[sub.hook_url] = sub.name
    _check_declared_not_ignored(entry_of_url, desired.ownership)
    # A live url that differs from a declared one only in hidden parts (a rotated token) is
    # that entry's receiver: managed, and updated in place rather than left beside a new copy.
    receivers = {receiver_key(url): name for url, name in entry_of_url.items()}
    manages = _ownership_test(desired.ownership, entry_of_url, receivers)

    # One sort by key up front: the lists built from it come out in key order, and every
    # later ordering by key is an integer comparison on `rank`.
    ordered = sorted(live, key=_hook_order)
    rank = {hook.key: index for index, hook in enumerate(ordered)}
    if len(rank) != len(ordered):
        twice = next(a.key for a, b in pairwise(ordered) if a.key == b.key)
        raise PlanError(f"Keap listed the subscription key {twice!r} twice")

    def by_rank(hook: Hook) -> int:
        return rank[hook.key]

    def change_rank(change: Update | Verify | Delete) -> int:
        return rank[change.existing.key]

    oldest: dict[Pair, Hook] = {}
    copies: dict[Pair, list[Hook]] = {}  # only for pairs that Keap has more than once
    orphans: list[Hook] = []
    unmanaged: list[Hook] = []
    for hook in ordered:
        pair = (hook.event_key, hook.hook_url)
        if pair in declared:
            if pair not in oldest:
                oldest[pair] = hook
            elif pair in copies:
                copies[pair].append(hook)
            else:
                copies[pair] = [oldest[pair], hook]
        elif manages(hook.hook_url):
            orphans.append(hook)
        else:
            unmanaged.append(hook)

    unchanged: list[Hook] = []
    verifies: list[Verify] = []
    deletes: list[Delete] = []
    for pair, kept in oldest.items():
        sub = declared[pair]
        name = sub.name
        several = copies.get(pair)
        if several is not None:
            # Of several live copies of a declared pair keep the Verified one, then the oldest.
            kept = keeper(several)
            deletes.extend(
                Delete(
                    name,
                    f"duplicate of key {kept.key} (same event and url), which is kept",
                    dup,
                    None,
                )
                for dup in several
                if dup is not kept
            )
        if kept.status == "Verified":
            unchanged.append(kept)
        else:
            verifies.append(Verify(name, _VERIFY_REASONS[kept.status], kept, sub))

    missing = [declared[pair] for pair in sorted(declared.keys() - oldest.keys())]
    updates: list[Update] = []
    for same in ("rotation", "event_key", "hook_url"):
        missing, orphans = _pair_up(missing, orphans, same, updates)
        orphans.sort(key=by_rank)
    deletes.extend(_undeclared_delete(hook, desired.ownership, entry_of_url) for hook in orphans)

    # `missing` is in (event, url) order; a stable sort by name groups creates by entry.
    creates = [
        Create(sub.name, f"declared by {sub.name!r} and not in Keap", None, sub) for sub in missing
    ]
    creates.sort(key=attrgetter("name"))
    unchanged.sort(key=by_rank)
    updates.sort(key=change_rank)
    verifies.sort(key=change_rank)
    deletes.sort(key=change_rank)
    return Plan(
        changes=(*creates, *updates, *verifies, *deletes),
        unchanged=tuple(unchanged),
        unmanaged=tuple(unmanaged),
        managed_count=len(ordered) - len(unmanaged),
        declared_count=len(declared),
        safety=desired.safety,
    )


_VERIFY_REASONS: Mapping[str, str] = {
    "Unverified": "Unverified: Keap sends no events until the receiver answers the handshake",
    "Inactive": "Inactive: Keap stopped delivering after failed attempts; verify reactivates it",
}


def _hook_order(hook: Hook) -> str:
    return key_order(hook.key)


def _index_declared(subscriptions: Iterable[Subscription]) -> dict[Pair, Subscription]:
    declared: dict[Pair, Subscription] = {}
    for sub in subscriptions:
        first = declared.setdefault(sub.pair, sub)
        if first is not sub:
            # The loader refuses this with line numbers; a caller building states by hand
            # must not get one of the two names silently dropped.
            a, b = sorted((first.name, sub.name))
            raise PlanError(
                f"{sub.event_key} {mask_url(sub.hook_url)} is declared twice, by {a!r} and {b!r}"
            )
    return declared


def _check_declared_not_ignored(entry_of_url: Mapping[str, str], ownership: Ownership) -> None:
    # Declaring an ignored url is a loader error; were it let through, its live subscriptions
    # would be left alone as unmanaged while the planner created copies of them.
    ignored = sorted(url for url in entry_of_url if ownership.ignores(url))
    if ignored:
        raise PlanError(
            f"{mask_url(ignored[0])} is declared by {entry_of_url[ignored[0]]!r} "
            "but ownership.ignore matches it"
        )


def _ownership_test(
    ownership: Ownership, declared_urls: Mapping[str, object], receivers: Mapping[str, object]
) -> Callable[[str], bool]:
    # Live subscriptions share few urls; the globs and prefixes are tried once per url.
    # A declared url is managed even when the caller's Ownership forgot to list it.
    cache: dict[str, bool] = {}

    def manages(url: str) -> bool:
        found = cache.get(url)
        if found is None:
            found = cache[url] = (
                url in declared_urls
                or (not ownership.ignores(url) and receiver_key(url) in receivers)
                or ownership.manages(url)
            )
        return found

    return manages


def _pair_up(
    missing: list[Subscription],
    orphans: list[Hook],
    same: Literal["rotation", "event_key", "hook_url"],
    updates: list[Update],
) -> tuple[list[Subscription], list[Hook]]:
    """Turn orphan/missing couples that agree on `same` into Updates; return what is left.
    "rotation" pairs those with the same event and receiver (receiver_key): a rotated token.

    Both lists come sorted (missing by pair, orphans by key), so the couples are deterministic:
    the n-th missing pair for a value takes the n-th oldest orphan with that value. The
    orphans left over are returned grouped by value; the caller restores key order.
    """

    def value(each: Hook | Subscription) -> str:
        if same == "rotation":
            return f"{each.event_key} {receiver_key(each.hook_url)}"
        return str(getattr(each, same))

    queues: dict[str, deque[Hook]] = defaultdict(deque)
    for hook in orphans:
        queues[value(hook)].append(hook)
    left: list[Subscription] = []
    for sub in missing:
        queue = queues.get(value(sub))
        if not queue:
            left.append(sub)
            continue
        hook = queue.popleft()
        if same == "rotation" and removed_secrets(hook.hook_url, sub.hook_url):
            reason = f"token removed: {mask_url(hook.hook_url)} → {mask_url(sub.hook_url)}"
        elif same == "rotation":
            old, new = mask_url(hook.hook_url), mask_url(sub.hook_url)
            reason = f"rotate token: {old} → {new}"
        elif same == "event_key":
            # Reasons are shown as they are: the url in one is masked like every url shown.
            url = mask_url(hook.hook_url)
            reason = f"receiver moved: {url} is no longer declared for {hook.event_key}"
        else:
            reason = f"event changed: {hook.event_key} is no longer declared for this url"
        updates.append(Update(sub.name, reason, hook, sub))
    return left, [hook for queue in queues.values() for hook in queue]


def _undeclared_delete(hook: Hook, ownership: Ownership, entry_of_url: Mapping[str, str]) -> Delete:
    entry = entry_of_url.get(hook.hook_url)
    if entry is not None:
        why = f"its url belongs to {entry!r}, which does not declare this event"
    else:
        rule = ownership.why(hook.hook_url)
        if rule is not None and rule.kind == "all":
            why = "ownership.all manages every subscription"
        elif rule is not None and rule.kind == "prefix":
            why = f"its url is under the managed prefix {mask_url(rule.pattern)}"
        else:
            why = "ownership lists its url as managed"
    return Delete(None, f"not declared; {why}", hook, None)


def entry_matches(name: str | None, patterns: Sequence[str]) -> bool:
    """Whether the hooks.yaml entry `name` is one the entry patterns (--target: shell globs,
    case-sensitive) name; a change with no entry (the delete of an undeclared subscription)
    never is."""
    return name is not None and any(fnmatchcase(name, pattern) for pattern in patterns)


def limited_to_entries(plan: Plan, desired: DesiredState, patterns: Sequence[str]) -> Plan:
    """`plan` limited to the entries `patterns` name, as `terraform -target` limits a run.

    Kept: the changes of those entries (their creates, updates, verifies and the deletes of
    extra copies of their pairs). Left out: every other change, including the deletes of managed
    subscriptions no entry declares, which belong to no entry. The subscriptions the left-out
    changes touch, and those of other entries that are unchanged, go to `left_out`, so that
    the plan still accounts for everything it saw. The safety thresholds then count only what
    is targeted: `managed_count` is the live subscriptions the kept changes touch plus the
    targeted entries' unchanged ones, `declared_count` the targeted entries' pairs."""
    if not patterns:
        return plan
    pairs = {sub.pair for sub in desired.subscriptions if entry_matches(sub.name, patterns)}
    changes = tuple(c for c in plan.changes if entry_matches(c.name, patterns))
    left_out = [
        c.existing
        for c in plan.changes
        if c.existing is not None and not entry_matches(c.name, patterns)
    ]
    unchanged = tuple(hook for hook in plan.unchanged if hook.pair in pairs)
    left_out.extend(hook for hook in plan.unchanged if hook.pair not in pairs)
    return replace(
        plan,
        changes=changes,
        unchanged=unchanged,
        managed_count=len(unchanged) + sum(1 for c in changes if c.existing is not None),
        declared_count=len(pairs),
        entry_patterns=tuple(patterns),
        left_out=(*plan.left_out, *sorted(left_out, key=_hook_order)),
    )
