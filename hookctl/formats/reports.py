"""Renderers of what commands other than plan show: apply reports (text, markdown, progress
lines), single hooks (`hookctl hooks`: tables and Keap's own JSON fields) and the short text a
chat webhook shows for drift. The same rules as hookctl.formats.render, whose helpers they use: urls
masked, Keap's text escaped, cells capped; they return strings and never print."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hookctl.domain.models import STATUSES, Hook
from hookctl.domain.planner import ACTIONS, Plan
from hookctl.domain.urls import mask_url
from hookctl.formats.grouping import NO_ENTRY, duration
from hookctl.formats.text import (
    MARKDOWN_MAX_ROWS,
    REPORT_MAX_LISTED,
    TEXT_MAX_CHANGES,
    cell,
    counted,
    markdown_text,
    mask_text,
    md_code,
    md_table,
    painter,
    shown,
    summary_line,
    url_cell,
)

if TYPE_CHECKING:
    from hookctl.domain.results import ApplyReport
    from hookctl.domain.results import Outcome as ChangeOutcome


# -- apply reports -----------------------------------------------------------------------------

_RESULT_STYLE = {"done": "create", "skipped": "dim", "planned": "dim", "unverified": "update"}


def report_text(report: ApplyReport, *, color: bool = False, verbose: bool = False) -> str:
    """What an apply did: each entry with the count of each result, then the changes that
    did not simply succeed, one a line (at most REPORT_MAX_LISTED); `verbose`: every change
    a line. The summary sentence last."""
    paint = painter(color)
    lines = []
    if verbose:
        lines = [outcome_line(o, paint) for o in report.outcomes]
    else:
        entries: dict[str, dict[str, int]] = {}
        for o in report.outcomes:
            counts = entries.setdefault(o.change.name or NO_ENTRY, {})
            counts[o.result] = counts.get(o.result, 0) + 1
        for name in sorted(entries, key=lambda n: (n == NO_ENTRY, n)):
            counted = ", ".join(f"{n} {result}" for result, n in sorted(entries[name].items()))
            lines.append(f"{cell(name)}: {counted}")
        odd = [o for o in report.outcomes if o.result not in ("done", "planned")]
        lines += [outcome_line(o, paint) for o in odd[:REPORT_MAX_LISTED]]
        if len(odd) > REPORT_MAX_LISTED:
            lines.append(f"… and {len(odd) - REPORT_MAX_LISTED} more (-v or --format json)")
    lines += ["", paint("bold", report_summary(report))]
    return "\n".join(lines) + "\n"


def outcome_line(o: ChangeOutcome, paint: Callable[[str, str], str] | None = None) -> str:
    """One change's outcome in a line: result, action, entry, key, event, url, detail."""
    paint = paint or painter(False)
    change = o.change
    label = paint(_RESULT_STYLE.get(o.result, "delete"), f"{o.result:<10}")
    line = f"{label} {change.action:<6} {cell(change.name or '-')} {_outcome_key(o)}"
    detail = f" ({shown(o.detail)})" if o.detail else ""
    return f"{line} {cell(change.event_key)} {url_cell(change.hook_url)}{detail}"


def progress_line(
    counter: str, o: ChangeOutcome, elapsed: float | None = None, left: float | None = None
) -> str:
    """A finished change as progress shows it: `[37/300] create svc-2 task.add` and, on a
    terminal, the time taken and left; without one, its result and detail."""
    change = o.change
    what = f"{counter} {change.action} {cell(change.name or change.key or '-')}"
    what += f" {cell(change.event_key)}"
    if elapsed is None:
        detail = f" ({shown(o.detail)})" if o.detail else ""
        return f"{what}: {o.result}{detail}"
    estimate = f", ~{duration(left)} left" if left else ""
    failed = f" ({o.result})" if o.result in ("failed", "unverified") else ""
    return f"{what}{failed}  {duration(elapsed)}{estimate}"


def _outcome_key(outcome: ChangeOutcome) -> str:
    # A create's key is the one Keap's answer gave it: as untrusted as the rest of the answer.
    key = outcome.change.key or (outcome.hook.key if outcome.hook else "")
    return f"#{cell(key)}" if key else ""


def report_markdown(report: ApplyReport) -> str:
    parts = [f"### hookctl apply{' (dry run)' if report.dry_run else ''}", ""]
    parts += [f"**{markdown_text(report_summary(report), limit=None)}**", ""]
    parts += md_table(
        ("result", "action", "name", "key", "event", "hook url", "detail"),
        report.outcomes,
        lambda o: (
            o.result,
            o.change.action,
            markdown_text(o.change.name or ""),
            markdown_text(o.change.key or (o.hook.key if o.hook else "")),
            md_code(o.change.event_key),
            md_code(mask_url(o.change.hook_url)),
            markdown_text(mask_text(o.detail)),
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
        f" {counted(len(unverified), 'hook')} not Verified: the receiver did not answer Keap's"
        " handshake; fix it, then run apply again."
        if unverified
        else " Run apply again to finish."
    )
    return f"Applied: {counts}. The account does not match yet ({left}).{hint}"


# -- single hooks (hookctl hooks ...) ----------------------------------------------------------


def hooks_json(
    result: Hook | Sequence[Hook] | Sequence[str] | None, *, reveal: bool = False
) -> Any:
    """Keap's own field names: one object, an array of them, or an array of event keys; the
    hookUrl masked unless `reveal`."""
    if result is None:
        return None
    if isinstance(result, Hook):
        return _keap_fields(result, reveal)
    return [item if isinstance(item, str) else _keap_fields(item, reveal) for item in result]


def _keap_fields(hook: Hook, reveal: bool) -> dict[str, str]:
    fields = hook.to_keap()
    if not reveal:
        fields["hookUrl"] = mask_url(hook.hook_url)
    return fields


def hooks_table(
    result: Hook | Sequence[Hook] | Sequence[str],
    *,
    empty: str = "No hook subscriptions.",
    reveal: bool = False,
) -> str:
    """An aligned table for a terminal (the url last, unpadded, masked unless `reveal`);
    `empty` for an empty list."""
    if isinstance(result, Hook):
        result = [result]
    if not result:
        return empty
    if all(isinstance(item, str) for item in result):
        return "\n".join(cell(str(item)) for item in result)
    rows = [("KEY", "EVENT", "STATUS", "URL")] + [
        (cell(h.key), cell(h.event_key), h.status, url_cell(h.hook_url, reveal=reveal))
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
    line = counted(total, "subscription")
    if len(shown) < total:
        line = f"{len(shown)} of {line}"
    extra = len(shown) - len({h.pair for h in shown})
    copies = f"; {counted(extra, 'duplicate')} (same event and url)" if extra else ""
    return f"{line}: {statuses}{copies}."


# -- chat ----------------------------------------------------------------------------------------


def drift_text(plan: Plan, *, account: str, source: str, run_url: str | None) -> str:
    """The drift report's `text`, which chat webhooks (Slack and the like) show: a line saying
    whether the account drifted, then its changes, at most TEXT_MAX_CHANGES of them."""
    drifted = plan.has_changes
    lines = [
        f"hookctl drift: account '{slack_text(account)}' "
        + ("has drifted from " if drifted else "matches ")
        + slack_text(source)
    ]
    if drifted:
        summary = plan.summary()
        lines.append(", ".join(f"{summary[a]} to {a}" for a in ACTIONS))
        lines += [
            f"• {c.action} {slack_text(c.name or '-')} {slack_text(c.event_key)} "
            f"{slack_text(mask_url(c.hook_url))}: {slack_text(mask_text(c.reason))}"
            for c in plan.changes[:TEXT_MAX_CHANGES]
        ]
        if len(plan.changes) > TEXT_MAX_CHANGES:
            lines.append(f"… and {len(plan.changes) - TEXT_MAX_CHANGES} more")
    if run_url:
        lines.append(f"CI run: {slack_text(run_url)}")
    return "\n".join(lines)


def slack_text(value: str) -> str:
    """A value inside Slack's message text: `&`, `<` and `>` escaped as Slack asks, so that
    `<!channel>` or `<https://phish|Click>` stays text; control characters escaped and the
    value cut at CELL_MAX characters, as in a table cell."""
    text = cell(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# `hookctl deliveries` and `hookctl trigger`: one line per delivery attempt, in fixed columns so
# that a followed log stays aligned as lines come.
DELIVERY_HEADER = (
    f"{'ID':>6}  {'TIME':<12}  {'HOOK':<6}  {'EVENT':<24}  {'TRY':>3}  {'STATUS':>6}  "
    f"{'MS':>6}  {'HOOK NOW':<10}  URL"
)


def delivery_line(record: Mapping[str, Any]) -> str:
    """One logged attempt (the sandbox's delivery log record), the url masked; a resend says
    which delivery it replayed."""
    status = record.get("status")
    answered = str(status) if isinstance(status, int) and status else "none"
    when = str(record.get("time", ""))[11:23]
    line = (
        f"{cell(str(record.get('id', '')), 6):>6}  {cell(when, 12):<12}  "
        f"{cell(str(record.get('hook_key', '')), 6):<6}  "
        f"{cell(str(record.get('event_key', '')), 24):<24}  "
        f"{cell(str(record.get('attempt', '')), 3):>3}  {answered:>6}  "
        f"{cell(str(record.get('duration_ms', '')), 6):>6}  "
        f"{cell(str(record.get('hook_status') or '-'), 10):<10}  "
        f"{url_cell(str(record.get('url', '')))}"
    )
    if record.get("resend_of"):
        line += f"  (resend of {cell(str(record['resend_of']), 12)})"
    return line


def delivery_json(record: Mapping[str, Any]) -> dict[str, Any]:
    """A logged attempt for `--format json`: as the sandbox keeps it, the hook url masked and
    any url in the receiver's answer too."""
    answer = str(record.get("answer", ""))
    return {**record, "url": mask_url(str(record.get("url", ""))), "answer": mask_text(answer)}
