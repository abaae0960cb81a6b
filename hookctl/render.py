"""Renderers: plans, apply reports and hooks as text for people and markdown for pull requests.

They return strings and never print; the CLI decides where output goes and whether to colour
it. A plan's JSON is the document hookctl/documents.py builds, only serialised here. Values that
come from Keap are untrusted: control characters are shown escaped, so a hostile hookUrl cannot
move the cursor or forge lines in a terminal or a comment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from hookctl.documents import plan_document
from hookctl.models import STATUSES, Hook
from hookctl.planner import ACTIONS, Change, Plan, Update

if TYPE_CHECKING:
    from hookctl.applier import ApplyReport

_T = TypeVar("_T")

Format = Literal["text", "markdown", "json"]
FORMATS: tuple[Format, ...] = ("text", "markdown", "json")
# GitHub refuses comments over 65,536 characters; a row takes up to a few hundred.
MARKDOWN_MAX_ROWS = 100

_SYMBOLS = {"create": "+", "update": "~", "verify": "!", "delete": "-"}
_EMOJI = {"create": "🟢", "update": "🟡", "verify": "🔵", "delete": "🔴"}
_ANSI = {"create": "32", "update": "33", "verify": "36", "delete": "31", "dim": "2", "bold": "1"}


def render_plan(plan: Plan, fmt: Format, *, color: bool = False) -> str:
    """The plan in one of FORMATS, as the text the CLI writes to stdout."""
    if fmt == "text":
        return plan_text(plan, color=color)
    if fmt == "markdown":
        return plan_markdown(plan)
    # ASCII-escaped: a lone surrogate from Keap would otherwise fail to print.
    return json.dumps(plan_document(plan), indent=2) + "\n"


def summary_line(plan: Plan) -> str:
    """'2 to create, 1 to delete; 10 unchanged, 3 unmanaged' (or 'No changes; ...')."""
    counts = plan.summary()
    doing = ", ".join(f"{counts[a]} to {a}" for a in ACTIONS if counts[a])
    seen = f"{counts['unchanged']} unchanged, {counts['unmanaged']} unmanaged"
    return f"{doing}; {seen}" if doing else f"No changes; {seen}"


def plan_text(plan: Plan, *, color: bool = False) -> str:
    """One line per change, aligned, with the fields an update changes beneath it."""
    paint = _painter(color)
    lines: list[str] = []
    names = max((len(_safe(c.name or "-")) for c in plan.changes), default=0)
    events = max((len(_safe(c.event_key)) for c in plan.changes), default=0)
    for change in plan.changes:
        name = _safe(change.name or "-").ljust(names)
        key = f"#{_safe(change.key)}" if change.key is not None else "new"
        event = _safe(change.event_key).ljust(events)
        head = f"{_SYMBOLS[change.action]} {change.action:<6}"
        lines.append(
            f"{paint(change.action, head)} {name}  {key:<8} {event}  {_safe(change.hook_url)}"
        )
        lines.append(paint("dim", f"    {_safe(change.reason)}"))
        if isinstance(change, Update):
            lines.extend(
                f"    {field}: {_safe(old)} -> {_safe(new)}" for field, old, new in change.diff
            )
    if lines:
        lines.append("")
    lines.append(paint("bold", summary_line(plan)))
    return "\n".join(lines) + "\n"


def plan_markdown(
    plan: Plan, *, title: str = "hookctl plan", max_rows: int = MARKDOWN_MAX_ROWS
) -> str:
    """A summary line, a table of changes and a collapsed list of unmanaged subscriptions."""
    parts = [f"### {_md_text(title)}", "", f"**{_md_text(summary_line(plan))}**", ""]
    if plan.changes:
        parts += _md_table(
            ("", "action", "name", "key", "event", "hook url", "reason"),
            plan.changes,
            _change_row,
            max_rows,
        )
    if plan.unmanaged:
        parts += [
            "<details>",
            f"<summary>{_count(len(plan.unmanaged), 'unmanaged subscription')}"
            " (never changed)</summary>",
            "",
            *_md_table(("key", "event", "hook url", "status"), plan.unmanaged, _hook_row, max_rows),
            "</details>",
            "",
        ]
    return "\n".join(parts)


def _change_row(change: Change) -> Sequence[str]:
    hook_url = _md_code(change.hook_url)
    reason = _md_text(change.reason)
    if isinstance(change, Update):
        hook_url = (
            f"{_md_code(change.old_hook_url)} → {hook_url}"
            if change.old_hook_url != change.hook_url
            else hook_url
        )
        event = _md_code(change.event_key)
        if change.old_event_key != change.event_key:
            event = f"{_md_code(change.old_event_key)} → {event}"
    else:
        event = _md_code(change.event_key)
    return (
        _EMOJI[change.action],
        change.action,
        _md_text(change.name or ""),
        _md_text(change.key or ""),
        event,
        hook_url,
        reason,
    )


def _hook_row(hook: Hook) -> Sequence[str]:
    return (_md_text(hook.key), _md_code(hook.event_key), _md_code(hook.hook_url), hook.status)


def _md_table(
    header: Sequence[str], items: Sequence[_T], row: Callable[[_T], Sequence[str]], max_rows: int
) -> list[str]:
    lines = [_md_row(header), _md_row(["---"] * len(header))]
    lines.extend(_md_row(row(item)) for item in items[:max_rows])
    if len(items) > max_rows:
        lines.append("")
        lines.append(f"… and {len(items) - max_rows} more (see `--format json` for all of them)")
    lines.append("")
    return lines


def _md_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _md_text(value: str) -> str:
    # Table cells: a pipe would split the cell, < and & could open HTML, * _ ` [ format.
    text = _safe(value)
    for char, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        text = text.replace(char, escaped)
    return "".join(f"\\{c}" if c in "*_`[]" else c for c in text)


def _md_code(value: str) -> str:
    # Inside a code span nothing is formatted; only a pipe (table syntax wins over the span)
    # and backticks (the fence must be longer than any run inside) need care.
    text = _safe(value).replace("|", "\\|")
    if "`" not in text:
        return f"`{text}`"
    fence = "`" * (max(len(run) for run in re.findall("`+", text)) + 1)
    return f"{fence} {text} {fence}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _safe(value: str) -> str:
    """The value with non-printable characters (ESC, CR, newlines, ...) escaped."""
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def _painter(color: bool) -> Callable[[str, str], str]:
    def paint(style: str, text: str) -> str:
        return f"\033[{_ANSI[style]}m{text}\033[0m" if color else text

    return paint


# -- apply reports -----------------------------------------------------------------------------

_RESULT_STYLE = {"done": "create", "skipped": "dim", "planned": "dim", "unverified": "update"}


def report_text(report: ApplyReport, *, color: bool = False) -> str:
    paint = _painter(color)
    lines = []
    for o in report.outcomes:
        change = o.change
        label = paint(_RESULT_STYLE.get(o.result, "delete"), f"{o.result:<10}")
        target = f"#{_safe(change.key)}" if change.key else (o.hook and f"#{o.hook.key}") or ""
        line = f"{label} {change.action:<6} {_safe(change.name or '-')} {target}"
        detail = f" ({_safe(o.detail)})" if o.detail else ""
        lines.append(f"{line} {_safe(change.event_key)} {_safe(change.hook_url)}{detail}")
    lines += ["", paint("bold", report_summary(report))]
    return "\n".join(lines) + "\n"


def report_markdown(report: ApplyReport) -> str:
    parts = [f"### hookctl apply{' (dry run)' if report.dry_run else ''}", ""]
    parts += [f"**{_md_text(report_summary(report))}**", ""]
    parts += _md_table(
        ("result", "action", "name", "key", "event", "hook url", "detail"),
        report.outcomes,
        lambda o: (
            o.result,
            o.change.action,
            _md_text(o.change.name or ""),
            _md_text(o.change.key or (o.hook.key if o.hook else "")),
            _md_code(o.change.event_key),
            _md_code(o.change.hook_url),
            _md_text(o.detail),
        ),
        MARKDOWN_MAX_ROWS,
    )
    return "\n".join(parts)


def report_summary(report: ApplyReport) -> str:
    """One sentence on what an apply did and whether the account now matches."""
    counts = ", ".join(f"{n} {result}" for result, n in sorted(report.counts().items()))
    if report.dry_run:
        return f"Dry run: {counts or 'nothing'} — nothing was sent to Keap."
    if report.after is None:
        return f"Applied: {counts}. Could not list the account afterwards to check it."
    if report.converged and not report.failed:
        return f"Applied: {counts}. The account now matches."
    left = summary_line(report.after)
    unverified = [c for c in report.after.changes if c.action == "verify"]
    hint = (
        f" {_count(len(unverified), 'hook')} not Verified: the receiver did not answer Keap's"
        " handshake; fix it, then run apply again."
        if unverified
        else " Run apply again to finish."
    )
    return f"Applied: {counts}. The account does not match yet ({left}).{hint}"


# -- single hooks (hookctl hooks ...) ----------------------------------------------------------


def hooks_json(result: Hook | Sequence[Hook] | Sequence[str] | None) -> Any:
    """Keap's own field names: one object, an array of them, or an array of event keys."""
    if result is None or isinstance(result, Hook):
        return result.to_keap() if result is not None else None
    return [item if isinstance(item, str) else item.to_keap() for item in result]


def hooks_table(
    result: Hook | Sequence[Hook] | Sequence[str], *, empty: str = "No hook subscriptions."
) -> str:
    """An aligned table for a terminal (the url last, unpadded); `empty` for an empty list."""
    if isinstance(result, Hook):
        result = [result]
    if not result:
        return empty
    if all(isinstance(item, str) for item in result):
        return "\n".join(_safe(str(item)) for item in result)
    rows = [("KEY", "EVENT", "STATUS", "URL")] + [
        (_safe(h.key), _safe(h.event_key), h.status, _safe(h.hook_url))
        for h in result
        if isinstance(h, Hook)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    )


def hooks_count(shown: Sequence[Hook], total: int) -> str:
    """The line under a listing: '3 subscriptions: 2 Verified, 1 Inactive.', 'of N' when a
    filter hid some, and how many are extra copies of the same (event, url) pair, which
    Keap accepts and then delivers every event to twice. An empty listing says so."""
    if not total:
        return "No hook subscriptions."
    if not shown:
        return f"No hook subscriptions match ({total} in the account)."
    statuses = ", ".join(
        f"{n} {status}" for status in STATUSES if (n := sum(1 for h in shown if h.status == status))
    )
    line = _count(total, "subscription")
    if len(shown) < total:
        line = f"{len(shown)} of {line}"
    extra = len(shown) - len({h.pair for h in shown})
    copies = f"; {_count(extra, 'duplicate')} (same event and url)" if extra else ""
    return f"{line}: {statuses}{copies}."
