"""Plans as text for people and the one entry point that renders a plan in any of FORMATS:
text (grouped by entry, identical changes folded), markdown for pull requests
(hookctl.formats.markdown) and JSON (the document hookctl.formats.documents builds, only
serialised here). The rules every output follows live in hookctl.formats.text. These return
strings and never print; the CLI decides where output goes and whether to colour it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal

from hookctl.domain.planner import Change, Plan, Update
from hookctl.formats.documents import plan_document
from hookctl.formats.grouping import Fold, by_entry, compact_events, counts_text
from hookctl.formats.markdown import plan_markdown
from hookctl.formats.text import (
    MARKDOWN_MAX_CHARS,
    cell,
    field_cell,
    fold_reason,
    painter,
    probe_cell,
    safe,
    shown,
    summary_line,
    url_cell,
)

if TYPE_CHECKING:
    from hookctl.domain.results import Probe

Format = Literal["text", "markdown", "json"]
FORMATS: tuple[Format, ...] = ("text", "markdown", "json")
# The multiplication sign between a count and what is done that many times.
_TIMES = "\u00d7"
_SYMBOLS = {"create": "+", "update": "~", "verify": "!", "delete": "-"}


def render_plan(
    plan: Plan,
    fmt: Format,
    *,
    color: bool = False,
    verbose: bool = False,
    refusal: str | None = None,
    limit: int = MARKDOWN_MAX_CHARS,
    probes: Mapping[str, Probe] | None = None,
    title: str = "hookctl plan",
) -> str:
    """The plan in one of FORMATS, as the text the CLI writes to stdout; markdown is headed
    `title` (the command that made it), carries
    `refusal` (why apply would refuse it) at the top and stays within `limit` characters; with
    `probes` (plan --probe), each create, update and verify says how its url answered the
    handshake."""
    if fmt == "text":
        return plan_text(plan, color=color, verbose=verbose, probes=probes)
    if fmt == "markdown":
        return plan_markdown(plan, title=title, refusal=refusal, limit=limit, probes=probes)
    # ASCII-escaped: a lone surrogate from Keap would otherwise fail to print.
    return json.dumps(plan_document(plan, probes), indent=2) + "\n"


def plan_text(
    plan: Plan,
    *,
    color: bool = False,
    verbose: bool = False,
    probes: Mapping[str, Probe] | None = None,
) -> str:
    """The changes grouped by entry, a heading with its counts, then its changes with the
    identical ones folded (`~ update  48 x hook_url a → b  task.{add,edit,…}`, with a
    multiplication sign); `verbose`: one line per change with its reason. With `probes`, how
    each url answered the handshake. The summary line last, either way."""
    paint = painter(color)
    lines = _change_lines(plan, paint, probes) if verbose else _grouped_lines(plan, paint, probes)
    if lines:
        lines.append("")
    lines.append(paint("bold", summary_line(plan)))
    return "\n".join(lines) + "\n"


def _probed(change: Change, probes: Mapping[str, Probe] | None) -> str:
    probed = probe_cell(change, probes)
    return f"  [probe: {probed}]" if probed else ""


def _change_lines(
    plan: Plan, paint: Callable[[str, str], str], probes: Mapping[str, Probe] | None
) -> list[str]:
    lines: list[str] = []
    names = max((len(cell(c.name or "-")) for c in plan.changes), default=0)
    events = max((len(cell(c.event_key)) for c in plan.changes), default=0)
    for change in plan.changes:
        name = cell(change.name or "-").ljust(names)
        key = f"#{cell(change.key)}" if change.key is not None else "new"
        event = cell(change.event_key).ljust(events)
        head = f"{_SYMBOLS[change.action]} {change.action:<6}"
        probed = probe_cell(change, probes)
        probed = f"  [probe: {probed}]" if probed else ""
        lines.append(
            f"{paint(change.action, head)} {name}  {key:<8} {event}  "
            f"{url_cell(change.hook_url)}{probed}"
        )
        lines.append(paint("dim", f"    {shown(change.reason)}"))
        if isinstance(change, Update):
            lines.extend(
                f"    {field}: {field_cell(field, old)} -> {field_cell(field, new)}"
                for field, old, new in change.diff
            )
    return lines


def _grouped_lines(
    plan: Plan, paint: Callable[[str, str], str], probes: Mapping[str, Probe] | None
) -> list[str]:
    lines: list[str] = []
    for entry in by_entry(plan.changes):
        lines.append(f"{paint('bold', cell(entry.title))}: {counts_text(entry.counts())}")
        for fold in entry.folds():
            head = paint(fold.action, f"{_SYMBOLS[fold.action]} {fold.action:<6}")
            lines.append(f"  {head}  {_fold_text(fold)}{_probed(fold.changes[0], probes)}")
            why = fold_reason(fold)
            if why:
                lines.append(paint("dim", f"      {shown(why)}"))
    return lines


def _fold_text(fold: Fold) -> str:
    """What a fold does, in one line: how many (or the key of the one), what changes, and
    for which events."""
    first = fold.changes[0]
    many = len(fold.changes) > 1
    single = f"#{cell(first.key)} " if first.key else ""
    count = f"{len(fold.changes)} {_TIMES} " if many else single
    if isinstance(first, Update):
        what = "  ".join(
            f"{field} {field_cell(field, old)} → {field_cell(field, new)}"
            for field, old, new in first.diff
            if field == "hook_url" or not many
        )
        if first.old_hook_url == first.hook_url:
            what += f"  at {url_cell(first.hook_url)}"
        elif first.rotation:
            what = f"rotate token  {what}"
    else:
        what = url_cell(first.hook_url)
    if first.action == "verify" and first.status is not None:
        what += f" ({first.status})"
    events = safe(compact_events(fold.events))
    return f"{count}{what}  {events}"
