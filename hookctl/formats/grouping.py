"""How a plan is grouped for people: by hooks.yaml entry, identical changes folded into one.

Pure (no I/O, no formatting beyond plain words): formats.render turns the groups into text and
markdown, escaping and masking what it shows. A change's entry is the hooks.yaml entry it is
for; the delete of a managed subscription no entry declares has none (NO_ENTRY).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hookctl.domain.planner import ACTIONS, Action, Change, Delete, Update

__all__ = ["NO_ENTRY", "Entry", "Fold", "by_entry", "compact_events", "counts_text", "duration"]

# How the changes of no entry (deletes of undeclared subscriptions) are headed.
NO_ENTRY = "(not declared)"


@dataclass(frozen=True)
class Fold:
    """Changes of one entry that are the same but for their event: one create per event of a
    url, the same url move for each event, ..."""

    action: Action
    changes: tuple[Change, ...]

    @property
    def events(self) -> list[str]:
        return [change.event_key for change in self.changes]

    @property
    def reason(self) -> str | None:
        """The reason all its changes share, if they do."""
        reasons = {change.reason for change in self.changes}
        return reasons.pop() if len(reasons) == 1 else None


@dataclass(frozen=True)
class Entry:
    """One entry's changes, in apply order."""

    name: str | None
    changes: tuple[Change, ...]

    @property
    def title(self) -> str:
        return self.name if self.name is not None else NO_ENTRY

    def counts(self) -> dict[Action, int]:
        counts: dict[Action, int] = dict.fromkeys(ACTIONS, 0)
        for change in self.changes:
            counts[change.action] += 1
        return counts

    def folds(self) -> list[Fold]:
        groups: dict[tuple[object, ...], list[Change]] = {}
        for change in self.changes:
            groups.setdefault(_fold_key(change), []).append(change)
        return [Fold(changes[0].action, tuple(changes)) for changes in groups.values()]


def by_entry(changes: Iterable[Change]) -> list[Entry]:
    """The changes grouped by entry, entries by name, the changes of no entry last."""
    groups: dict[str | None, list[Change]] = {}
    for change in changes:
        groups.setdefault(change.name, []).append(change)
    names = sorted((name for name in groups if name is not None), key=str)
    ordered: list[str | None] = [*names, *([None] if None in groups else [])]
    return [Entry(name, tuple(groups[name])) for name in ordered]


def _fold_key(change: Change) -> tuple[object, ...]:
    if isinstance(change, Update):
        events = (change.old_event_key, change.event_key)
        moved = events if events[0] != events[1] else None
        return ("update", change.old_hook_url, change.hook_url, moved)
    if isinstance(change, Delete):
        return ("delete", change.hook_url, "duplicate" if change.duplicate else change.reason)
    return (change.action, change.hook_url, change.status)


def counts_text(counts: dict[Action, int]) -> str:
    """'2 to create, 1 to delete' (the actions with changes, in apply order)."""
    return ", ".join(f"{counts[a]} to {a}" for a in ACTIONS if counts.get(a)) or "no changes"


def compact_events(events: Sequence[str], limit: int = 120) -> str:
    """Event keys in few characters: those sharing all but their last segment written once
    (`contact.{add,edit}`), about `limit` characters at most, then how many more there are."""
    events = list(dict.fromkeys(events))  # the copies of a pair share their event
    families: dict[str, list[str]] = {}
    for event in events:
        head, dot, last = event.rpartition(".")
        if dot:
            families.setdefault(head + ".", []).append(last)
        else:
            families.setdefault(event, [])
    text = ""
    used = 0
    for head, lasts in families.items():
        separator = ", " if text else ""
        if not lasts or len(lasts) == 1:
            word = head + (lasts[0] if lasts else "")
            if len(text) + len(separator) + len(word) > limit:
                break
            text, used = text + separator + word, used + 1
            continue
        taken: list[str] = []
        for last in lasts:
            if len(text) + len(separator) + len(head) + len(",".join([*taken, last])) + 3 > limit:
                break
            taken.append(last)
        if not taken:
            break
        more = ",…" if len(taken) < len(lasts) else ""
        text += f"{separator}{head}{{{','.join(taken)}{more}}}"
        used += len(taken)
        if more:
            break
    if used < len(events):
        return f"{text}{' ' if text else ''}(+{len(events) - used} more)"
    return text


def duration(seconds: float) -> str:
    """'12 s', '3 min', '1 h 5 min': how long, as a person reads it."""
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
