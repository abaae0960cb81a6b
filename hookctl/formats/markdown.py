"""The markdown plan for pull requests (plan_markdown): a summary table of every entry,
then a collapsed section per entry, within GitHub's comment limit however large the plan.

Built in three tries, each stopping as soon as it no longer fits: every change a row; then
identical changes folded into one row (grouping.Fold); then as many folded sections as fit
and a pointer to the JSON plan for the rest. The header, the refusal and the table naming
every entry with its counts come first and always stay. Every cell goes through render's
helpers: urls masked, Keap's text escaped, cells capped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from hookctl.domain.models import Hook
from hookctl.domain.planner import ACTIONS, Change, Plan
from hookctl.domain.urls import mask_url
from hookctl.formats.grouping import Entry, Fold, by_entry, compact_events, counts_text
from hookctl.formats.text import (
    EMOJI,
    MARKDOWN_MAX_CHARS,
    MARKDOWN_MAX_ROWS,
    change_row,
    counted,
    fold_reason,
    hook_row,
    markdown_text,
    mask_text,
    md_code,
    md_row,
    md_table,
    probe_cell,
    summary_line,
)

if TYPE_CHECKING:
    from hookctl.domain.results import Probe

__all__ = ["plan_markdown"]

# Entry names in the summary table are cut shorter than other cells, so that a table of
# hundreds of entries still fits.
NAME_MAX = 80


def plan_markdown(
    plan: Plan,
    *,
    title: str = "hookctl plan",
    refusal: str | None = None,
    limit: int = MARKDOWN_MAX_CHARS,
    max_rows: int = MARKDOWN_MAX_ROWS,
    probes: Mapping[str, Probe] | None = None,
) -> str:
    """For a pull request: the refusal first when apply would refuse the plan, the summary
    line, a table of every entry with its counts, then a collapsed section per entry with
    its changes (folded when the changes one by one would not fit) and the unmanaged
    subscriptions; with `probes`, a column saying how each url answered the handshake. At
    most `limit` characters: what does not fit is cut, with a pointer to the JSON plan; the
    table naming every entry always stays."""
    head = _head(plan, title, refusal)
    pointer = (
        "\n… cut here to stay within GitHub's 65,536-character comment limit: "
        "`hookctl plan --format json` (the plan artifact) lists every change.\n"
    )
    room = limit - len(head) - len(pointer) - 1
    if room < 0:  # the table alone is too long: cut it too (thousands of entries)
        return _fit_lines(head, limit - len(pointer)) + pointer
    entries = by_entry(plan.changes)
    tail = _unmanaged(plan.unmanaged, max_rows)

    # plan --probe: a last column saying how each url answered the handshake.
    probe_column: tuple[str, ...] = ("probe",) if probes is not None else ()

    def probed(change: Change) -> tuple[str, ...]:
        return (probe_cell(change, probes, markdown=True),) if probes is not None else ()

    def by_change(entry: Entry) -> list[str]:
        header = ("", "action", "name", "key", "event", "hook url", "reason", *probe_column)
        return md_table(header, entry.changes, lambda c: (*change_row(c), *probed(c)), max_rows)

    def folded(entry: Entry) -> list[str]:
        header = ("", "action", "changes", "events", "hook url", "reason", *probe_column)
        row: Callable[[Fold], Sequence[str]] = lambda f: (*_fold_row(f), *probed(f.changes[0]))  # noqa: E731
        return md_table(header, entry.folds(), row, max_rows)

    for rows in (by_change, folded):
        blocks, complete = _take((_section(e, rows) for e in entries), limit - len(head))
        text = "\n".join([head, *blocks, tail])
        if complete and len(text) <= limit:
            return text
    blocks, _ = _take((_section(e, folded) for e in entries), room)
    return "\n".join([head, *blocks]) + pointer


def _head(plan: Plan, title: str, refusal: str | None) -> str:
    parts = [f"### {markdown_text(title)}", ""]
    if refusal is not None:
        parts += [
            "> [!CAUTION]",
            f"> **Refused: nothing will be applied.** {markdown_text(mask_text(refusal), None)}",
            "",
        ]
    parts += [f"**{markdown_text(summary_line(plan), limit=None)}**", ""]
    if plan.entry_patterns:
        targets = ", ".join(md_code(pattern) for pattern in plan.entry_patterns)
        parts += [
            f"Limited to the entries {targets} (`--target`): "
            f"{counted(len(plan.left_out), 'managed subscription')} of other entries or of no "
            "entry are left out.",
            "",
        ]
    entries = by_entry(plan.changes)
    if entries:
        parts.append(md_row(["entry", *(f"{EMOJI[a]} {a}" for a in ACTIONS)]))
        parts.append(md_row(["---"] * (len(ACTIONS) + 1)))
        for entry in entries:
            counts = entry.counts()
            name = markdown_text(entry.title, NAME_MAX)
            parts.append(md_row([name, *(str(counts[a]) for a in ACTIONS)]))
    return "\n".join(parts) + "\n"


def _section(entry: Entry, rows: Callable[[Entry], list[str]]) -> str:
    summary = f"<b>{markdown_text(entry.title)}</b>: {counts_text(entry.counts())}"
    return "\n".join(
        ["<details>", f"<summary>{summary}</summary>", "", *rows(entry), "</details>", ""]
    )


def _fold_row(fold: Fold) -> Sequence[str]:
    first: Change = fold.changes[0]
    url = md_code(mask_url(first.hook_url))
    old = getattr(first, "old_hook_url", first.hook_url)
    if old != first.hook_url:
        url = f"{md_code(mask_url(old))} → {url}"
    reason = fold_reason(fold) or first.reason
    return (
        EMOJI[fold.action],
        fold.action,
        str(len(fold.changes)),
        md_code(compact_events(fold.events)),
        url,
        markdown_text(mask_text(reason)),
    )


def _unmanaged(hooks: Sequence[Hook], max_rows: int) -> str:
    if not hooks:
        return ""
    summary = f"{counted(len(hooks), 'unmanaged subscription')} (never changed)"
    table = md_table(("key", "event", "hook url", "status"), hooks, hook_row, max_rows)
    return "\n".join(["<details>", f"<summary>{summary}</summary>", "", *table, "</details>", ""])


def _take(blocks: Iterable[str], room: int) -> tuple[list[str], bool]:
    """The blocks, in order, that fit in `room` characters (one newline between each), and
    whether all of them did. Stops building at the first that does not fit."""
    taken: list[str] = []
    used = 0
    iterator: Iterator[str] = iter(blocks)
    for block in iterator:
        if used + len(block) + 1 > room:
            return taken, False
        taken.append(block)
        used += len(block) + 1
    return taken, True


def _fit_lines(text: str, room: int) -> str:
    head = text[: max(0, room)]
    return head[: head.rfind("\n") + 1]
