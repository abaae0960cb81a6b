"""The fleet health page: one self-contained HTML file for `plan`/`drift --format html`.

A summary of the run (accounts in sync, drifted, failed; live hooks Inactive or Unverified),
then one row per account, sortable by column, filterable by text, each opening the account's
changes. It is opened from a CI artifact or a laptop with no network, so it loads nothing: the
style and the script are inline and a Content-Security-Policy allows exactly those two (by
hash) and nothing else, so even a value that escaped escaping could not run or fetch anything.

Every value on the page comes through hookctl.formats.text (urls masked, control characters
escaped, cells capped) and then html.escape, attributes included. Pure: the time it names and
every figure are given to it.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hookctl.domain.models import Hook, Status
from hookctl.domain.planner import ACTIONS, Change, Plan
from hookctl.domain.urls import mask_url
from hookctl.formats.text import CELL_MAX, cell, counted, mask_text, safe, summary_line

__all__ = ["DETAILS_MAX_ROWS", "AccountRow", "page"]

# Changes (and unhealthy hooks) listed in one account's opened row; the rest are counted. A
# fleet of hundreds of accounts with thousands of changes each must still open in a browser.
DETAILS_MAX_ROWS = 200
# An error is shown whole (masked and escaped) when the row is opened, up to this length.
ERROR_MAX = CELL_MAX * 10
UNHEALTHY: tuple[Status, ...] = ("Inactive", "Unverified")
STATES = ("failed", "drifted", "in sync")
UNKNOWN = "\N{EN DASH}"


@dataclass(frozen=True)
class AccountRow:
    """What the page shows of one account: its plan (None when its check failed before one was
    made), the live subscriptions the plan was made from, and what the run knew about it."""

    label: str
    source: str
    plan: Plan | None
    live: tuple[Hook, ...] = ()
    # Why the account failed (unreachable, refused credentials, a plan apply would refuse).
    error: str | None = None
    # Keap's daily quota as its last answer reported it, when it reported one.
    quota_available: int | None = None
    quota_limit: int | None = None
    # How long the account's check took, in seconds.
    seconds: float | None = None

    @property
    def state(self) -> str:
        if self.error is not None:
            return "failed"
        return "drifted" if self.plan is not None and self.plan.has_changes else "in sync"

    def unhealthy(self, status: Status) -> list[Hook]:
        return [hook for hook in self.live if hook.status == status]


def page(
    rows: Sequence[AccountRow], *, command: str, generated_at: datetime, version: str = ""
) -> str:
    """The whole page for `command` ("plan" or "drift") over `rows`, in the order given."""
    states = {state: sum(1 for row in rows if row.state == state) for state in STATES}
    unhealthy = {s: sum(len(row.unhealthy(s)) for row in rows) for s in UNHEALTHY}
    title = f"hookctl {command}: {counted(len(rows), 'account')}"
    summary = "".join(
        f'<div class="figure {css}"><span class="n">{n}</span> {_e(name)}</div>'
        for css, n, name in (
            ("ok", states["in sync"], "in sync"),
            ("drifted", states["drifted"], "drifted"),
            ("failed", states["failed"], "failed"),
            ("inactive", unhealthy["Inactive"], "hooks Inactive"),
            ("unverified", unhealthy["Unverified"], "hooks Unverified"),
        )
    )
    made = f"{generated_at:%Y-%m-%d %H:%M:%S %Z}".strip()
    by = f"hookctl {version} " if version else "hookctl "
    header = "".join(
        f'<th scope="col" aria-sort="none"><button type="button" data-col="{i}"'
        f' data-type="{kind}">{_e(name)}</button></th>'
        for i, (name, kind) in enumerate(_COLUMNS)
    )
    body = "".join(_account(index, row) for index, row in enumerate(rows))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style></head>\n<body>\n"
        f'<header><h1>{_e(title)}</h1><p class="meta">{_e(by)}{_e(command)} at {_e(made)}'
        "</p></header>\n"
        f'<section id="summary" aria-label="summary">{summary}</section>\n'
        '<div class="tools"><label>Filter <input id="filter" type="search" autocomplete="off" '
        'placeholder="account, state, file, error…"></label> '
        f'<span id="shown" aria-live="polite">{len(rows)} of {len(rows)} accounts</span></div>\n'
        f'<table id="fleet"><thead><tr>{header}</tr></thead>\n{body}</table>\n'
        f"<script>{_SCRIPT}</script>\n</body></html>\n"
    )


# -- one account -------------------------------------------------------------------------------

# Each column's name and how it sorts: "text" by its words, "num" by data-sort.
_COLUMNS = (
    ("Account", "text"),
    ("State", "text"),
    ("Changes", "num"),
    *((action.capitalize(), "num") for action in ACTIONS),
    ("Inactive", "num"),
    ("Unverified", "num"),
    ("Quota left", "num"),
    ("Duration", "num"),
    ("Error", "text"),
)


def _account(index: int, row: AccountRow) -> str:
    """One account: its row and, hidden until the row is opened, its changes. Both in one
    tbody, so that sorting and filtering move and hide them together."""
    counts = row.plan.summary() if row.plan is not None else None
    cells = [
        f'<td class="name"><button type="button" class="open" aria-expanded="false" '
        f'aria-controls="d{index}">{_e(cell(row.label))}</button>'
        f'<span class="source">{_e(cell(row.source))}</span></td>',
        f'<td><span class="state {row.state.replace(" ", "-")}">{_e(row.state)}</span></td>',
    ]
    changes = len(row.plan.changes) if row.plan is not None else None
    cells.append(_number(changes, str(changes) if changes is not None else UNKNOWN))
    for action in ACTIONS:
        n = counts[action] if counts is not None else None
        cells.append(_number(n, str(n) if n is not None else UNKNOWN))
    for status in UNHEALTHY:
        n = len(row.unhealthy(status))
        cells.append(_number(n, str(n) if row.plan is not None else UNKNOWN))
    cells.append(_number(row.quota_available, _quota(row)))
    millis = round(row.seconds * 1000) if row.seconds is not None else None
    cells.append(_number(millis, _duration(row.seconds)))
    error = _e(cell(mask_text(row.error, CELL_MAX))) if row.error else ""
    cells.append(f'<td class="error">{error}</td>')
    return (
        f'<tbody class="account" data-state="{_e(row.state)}">'
        f'<tr class="row">{"".join(cells)}</tr>'
        f'<tr class="details" id="d{index}" hidden><td colspan="{len(_COLUMNS)}">'
        f"{_details(row)}</td></tr></tbody>\n"
    )


def _number(value: int | None, shown: str) -> str:
    # Unknown values sort below every known one.
    key = "-1" if value is None else str(value)
    return f'<td class="num" data-sort="{key}">{_e(shown)}</td>'


def _quota(row: AccountRow) -> str:
    if row.quota_available is None or row.quota_limit is None:
        return UNKNOWN
    return f"{row.quota_available:,} / {row.quota_limit:,}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return UNKNOWN
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _details(row: AccountRow) -> str:
    parts: list[str] = []
    if row.error is not None:
        parts.append(f'<pre class="why">{_e(_safe_lines(mask_text(row.error, CELL_MAX)))}</pre>')
    if row.plan is not None:
        parts.append(f"<p>{_e(summary_line(row.plan))}</p>")
        parts.append(_changes(row.plan.changes))
    for status in UNHEALTHY:
        hooks = row.unhealthy(status)
        if hooks:
            parts.append(f"<h3>{_e(status)} ({len(hooks)})</h3>")
            parts.append(
                _table(
                    ("key", "event", "url"),
                    [(hook.key, hook.event_key, mask_url(hook.hook_url)) for hook in hooks],
                )
            )
    return "".join(parts)


def _changes(changes: Sequence[Change]) -> str:
    if not changes:
        return ""
    return _table(
        ("action", "entry", "key", "event", "url", "why"),
        [
            (
                change.action,
                change.name or "",
                change.key or "",
                change.event_key,
                mask_url(change.hook_url),
                mask_text(change.reason),
            )
            for change in changes
        ],
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{_e(name)}</th>" for name in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(cell(value))}</td>" for value in row) + "</tr>"
        for row in rows[:DETAILS_MAX_ROWS]
    )
    more = ""
    if len(rows) > DETAILS_MAX_ROWS:
        more = (
            f'<p class="more">… and {len(rows) - DETAILS_MAX_ROWS} more '
            "(see --format json for all of them)</p>"
        )
    return (
        f'<table class="changes"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'
    )


def _safe_lines(text: str) -> str:
    """Free text kept on its lines, every other control character escaped, cut at ERROR_MAX."""
    return "\n".join(safe(line) for line in text[:ERROR_MAX].splitlines())


def _e(value: str) -> str:
    return html.escape(value, quote=True)


# -- the inline style and script, allowed by hash ----------------------------------------------

_STYLE = """
:root{--ok:#1a7f37;--drift:#9a6700;--fail:#cf222e;--muted:#57606a;--line:#d0d7de}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#1f2328}
h1{font-size:1.4rem;margin:0}.meta{color:var(--muted);margin:.2rem 0 1rem}
#summary{display:flex;gap:.8rem;flex-wrap:wrap;margin-bottom:1rem}
.figure{border:1px solid var(--line);border-radius:6px;padding:.5rem .9rem}
.figure .n{font-size:1.5rem;font-weight:600;margin-right:.2rem}
.figure.ok .n{color:var(--ok)}.figure.drifted .n{color:var(--drift)}
.figure.failed .n{color:var(--fail)}.figure.inactive .n,.figure.unverified .n{color:var(--drift)}
.tools{margin:.5rem 0}#filter{width:22rem;padding:.3rem}#shown{color:var(--muted);margin-left:1rem}
table#fleet{border-collapse:collapse;width:100%}
#fleet th{background:#f6f8fa;position:sticky;top:0;text-align:left}
#fleet th button{all:unset;cursor:pointer;font-weight:600;padding:.35rem .5rem;display:block;
white-space:nowrap}
#fleet th[aria-sort=ascending] button::after{content:" ▲"}
#fleet th[aria-sort=descending] button::after{content:" ▼"}
#fleet td{border-top:1px solid var(--line);padding:.3rem .5rem;vertical-align:top}
#fleet td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
#fleet td.error{color:var(--fail);max-width:28rem;overflow-wrap:anywhere}
.open{all:unset;cursor:pointer;font-weight:600;color:#0969da}
.open::before{content:"▸ ";color:var(--muted)}.open[aria-expanded=true]::before{content:"▾ "}
.source{display:block;color:var(--muted);font-size:12px}
.state{border-radius:1em;padding:0 .5em;font-size:12px;font-weight:600;color:#fff}
.state.in-sync{background:var(--ok)}.state.drifted{background:var(--drift)}
.state.failed{background:var(--fail)}
tr.details td{background:#f6f8fa}
table.changes{border-collapse:collapse;margin:.3rem 0;font-size:13px}
table.changes th,table.changes td{border:1px solid var(--line);padding:.2rem .4rem;
text-align:left;overflow-wrap:anywhere}
pre.why{white-space:pre-wrap;color:var(--fail);margin:.3rem 0}
.more{color:var(--muted);margin:.2rem 0}
"""

_SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("fleet");
  var filter = document.getElementById("filter");
  var shown = document.getElementById("shown");
  var groups = Array.prototype.slice.call(table.tBodies);
  var total = groups.length;
  var position = new Map();
  groups.forEach(function (group, i) { position.set(group, i); });
  function key(group, col, type) {
    var td = group.rows[0].cells[col];
    return type === "num" ? Number(td.getAttribute("data-sort")) : td.textContent.toLowerCase();
  }
  table.tHead.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) { return; }
    var th = button.parentElement;
    var col = Number(button.getAttribute("data-col"));
    var type = button.getAttribute("data-type");
    var down = th.getAttribute("aria-sort") !== "descending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
      other.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", down ? "descending" : "ascending");
    var order = groups.slice().sort(function (a, b) {
      var x = key(a, col, type), y = key(b, col, type);
      var c = x < y ? -1 : x > y ? 1 : position.get(a) - position.get(b);
      return down ? -c : c;
    });
    order.forEach(function (group) { table.appendChild(group); });
  });
  filter.addEventListener("input", function () {
    var words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var count = 0;
    groups.forEach(function (group) {
      var text = group.rows[0].textContent.toLowerCase();
      var match = words.every(function (word) { return text.indexOf(word) !== -1; });
      group.hidden = !match;
      if (match) { count += 1; }
    });
    shown.textContent = count + " of " + total + " accounts";
  });
  table.addEventListener("click", function (event) {
    var button = event.target.closest("button.open");
    if (!button) { return; }
    var details = document.getElementById(button.getAttribute("aria-controls"));
    var open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", open ? "true" : "false");
    details.hidden = !open;
  });
})();
"""


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


# Nothing but the page's own style and script: no request of any kind, no form, no frame.
_CSP = (
    f"default-src 'none'; style-src {_sha256(_STYLE)}; script-src {_sha256(_SCRIPT)}; "
    "base-uri 'none'; form-action 'none'"
)
