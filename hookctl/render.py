"""Renderers: plans, apply reports and hooks as text for people, markdown for pull requests and
the short text chat webhooks show.

They return strings and never print; the CLI decides where output goes and whether to colour
it. A plan's JSON is the document hookctl/documents.py builds, only serialised here.

Everything shown is treated as hostile or secret, wherever it came from:
- hook urls carry credentials (receivers authenticate Keap by a token in the query), so every
  url is shown through hookctl.urls.mask_url, and urls inside free text (reasons, Keap's error
  messages) through mask_text; only `hooks list/get --reveal` shows real ones;
- values from Keap are untrusted: control characters are shown escaped, so a hostile hookUrl
  cannot move the cursor or forge lines in a terminal or a comment; markdown escapes its syntax,
  @mentions, #references and links, and chat text escapes Slack's `& < >`;
- a table cell holds at most CELL_MAX characters, so one huge url cannot make a huge comment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, TypeVar

from hookctl.grouping import Fold, by_entry, compact_events, counts_text
from hookctl.models import Hook
from hookctl.planner import ACTIONS, Change, Delete, Plan, Update
from hookctl.urls import mask_url

if TYPE_CHECKING:
    from hookctl.probe import Probe

_T = TypeVar("_T")

Format = Literal["text", "markdown", "json"]
FORMATS: tuple[Format, ...] = ("text", "markdown", "json")
# GitHub refuses comments over 65,536 characters; a row takes up to a few hundred.
MARKDOWN_MAX_ROWS = 100
# GitHub's comment limit, less room for the marker line a recipe puts before the plan.
MARKDOWN_MAX_CHARS = 65_536 - 256
# The failed, unverified and skipped changes an apply report lists one by one (without -v).
REPORT_MAX_LISTED = 50
# The longest value a table cell (or a url inside a sentence) shows, ellipsis included.
CELL_MAX = 200
# Slack shows at most a few dozen lines usefully; the JSON body still carries every change.
TEXT_MAX_CHANGES = 20

# The multiplication sign between a count and what is done that many times.
_TIMES = "\u00d7"
_SYMBOLS = {"create": "+", "update": "~", "verify": "!", "delete": "-"}
_EMOJI = {"create": "🟢", "update": "🟡", "verify": "🔵", "delete": "🔴"}
# plan --probe in markdown: passes, passes only with `hooks verify --secret`, fails.
PROBE_MARKS = {"ok": "✅", "delayed": "⏳"}
_ANSI = {"create": "32", "update": "33", "verify": "36", "delete": "31", "dim": "2", "bold": "1"}


def render_plan(
    plan: Plan,
    fmt: Format,
    *,
    color: bool = False,
    verbose: bool = False,
    refusal: str | None = None,
    limit: int = MARKDOWN_MAX_CHARS,
    probes: Mapping[str, Probe] | None = None,
) -> str:
    """The plan in one of FORMATS, as the text the CLI writes to stdout; markdown carries
    `refusal` (why apply would refuse it) at the top and stays within `limit` characters; with
    `probes` (plan --probe), each create, update and verify says how its url answered the
    handshake."""
    if fmt == "text":
        return plan_text(plan, color=color, verbose=verbose, probes=probes)
    if fmt == "markdown":
        return plan_markdown(plan, refusal=refusal, limit=limit, probes=probes)
    from hookctl.documents import plan_document  # documents imports this module

    # ASCII-escaped: a lone surrogate from Keap would otherwise fail to print.
    return json.dumps(plan_document(plan, probes), indent=2) + "\n"


def summary_line(plan: Plan) -> str:
    """'2 to create, 1 to delete; 10 unchanged, 3 unmanaged' (or 'No changes; ...')."""
    counts = plan.summary()
    doing = ", ".join(f"{counts[a]} to {a}" for a in ACTIONS if counts[a])
    seen = f"{counts['unchanged']} unchanged, {counts['unmanaged']} unmanaged"
    return f"{doing}; {seen}" if doing else f"No changes; {seen}"


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
    paint = _painter(color)
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
    names = max((len(_cell(c.name or "-")) for c in plan.changes), default=0)
    events = max((len(_cell(c.event_key)) for c in plan.changes), default=0)
    for change in plan.changes:
        name = _cell(change.name or "-").ljust(names)
        key = f"#{_cell(change.key)}" if change.key is not None else "new"
        event = _cell(change.event_key).ljust(events)
        head = f"{_SYMBOLS[change.action]} {change.action:<6}"
        probed = probe_cell(change, probes)
        probed = f"  [probe: {probed}]" if probed else ""
        lines.append(
            f"{paint(change.action, head)} {name}  {key:<8} {event}  "
            f"{_url_cell(change.hook_url)}{probed}"
        )
        lines.append(paint("dim", f"    {shown(change.reason)}"))
        if isinstance(change, Update):
            lines.extend(
                f"    {field}: {_field_cell(field, old)} -> {_field_cell(field, new)}"
                for field, old, new in change.diff
            )
    return lines


def _grouped_lines(
    plan: Plan, paint: Callable[[str, str], str], probes: Mapping[str, Probe] | None
) -> list[str]:
    lines: list[str] = []
    for entry in by_entry(plan.changes):
        lines.append(f"{paint('bold', _cell(entry.title))}: {counts_text(entry.counts())}")
        for fold in entry.folds():
            head = paint(fold.action, f"{_SYMBOLS[fold.action]} {fold.action:<6}")
            lines.append(f"  {head}  {_fold_text(fold)}{_probed(fold.changes[0], probes)}")
            why = _fold_reason(fold)
            if why:
                lines.append(paint("dim", f"      {shown(why)}"))
    return lines


def _fold_text(fold: Fold) -> str:
    """What a fold does, in one line: how many (or the key of the one), what changes, and
    for which events."""
    first = fold.changes[0]
    many = len(fold.changes) > 1
    single = f"#{_cell(first.key)} " if first.key else ""
    count = f"{len(fold.changes)} {_TIMES} " if many else single
    if isinstance(first, Update):
        what = "  ".join(
            f"{field} {_field_cell(field, old)} → {_field_cell(field, new)}"
            for field, old, new in first.diff
            if field == "hook_url" or not many
        )
        if first.old_hook_url == first.hook_url:
            what += f"  at {_url_cell(first.hook_url)}"
    else:
        what = _url_cell(first.hook_url)
    if first.action == "verify" and first.status is not None:
        what += f" ({first.status})"
    events = _safe(compact_events(fold.events))
    return f"{count}{what}  {events}"


def _fold_reason(fold: Fold) -> str | None:
    first = fold.changes[0]
    if first.action in ("create", "update"):
        return None  # the line says it all
    if isinstance(first, Delete) and first.duplicate and len(fold.changes) > 1:
        return "extra copies of declared subscriptions (the Verified, else oldest, copy is kept)"
    return fold.reason


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
    from hookctl.mdplan import plan_markdown as build  # the budgeting lives there

    return build(plan, title=title, refusal=refusal, limit=limit, max_rows=max_rows, probes=probes)


def _change_row(change: Change) -> Sequence[str]:
    hook_url = _md_code(mask_url(change.hook_url))
    reason = markdown_text(mask_text(change.reason))
    if isinstance(change, Update):
        hook_url = (
            f"{_md_code(mask_url(change.old_hook_url))} → {hook_url}"
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
        markdown_text(change.name or ""),
        markdown_text(change.key or ""),
        event,
        hook_url,
        reason,
    )


def probe_cell(
    change: Change, probes: Mapping[str, Probe] | None, *, markdown: bool = False
) -> str:
    """How the url of a create, update or verify answered the handshake (plan --probe):
    'no echo, 12 ms', after a mark in markdown; empty for a delete, a url not probed, or a
    plan made without --probe."""
    from hookctl.probe import PROBED_ACTIONS

    probe = probes.get(change.hook_url) if probes and change.action in PROBED_ACTIONS else None
    if probe is None:
        return ""
    if not markdown:
        return probe.label
    return f"{PROBE_MARKS.get(probe.outcome, '❌')} {markdown_text(probe.label)}"


def _hook_row(hook: Hook) -> Sequence[str]:
    return (
        markdown_text(hook.key),
        _md_code(hook.event_key),
        _md_code(mask_url(hook.hook_url)),
        hook.status,
    )


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


# GitHub links @user and #123 (also inside words such as a@b) and bare http(s):// and www.
# urls; a word joiner after the character that starts them leaves the text as it reads.
_MD_LIVE = re.compile(r"[@#]|(?<=:)//|(?<=www)\.", re.IGNORECASE)
_WORD_JOINER = "\u2060"


def markdown_text(value: str, limit: int | None = CELL_MAX) -> str:
    """Text for a markdown table cell or line, shown as it reads and nothing more: no HTML, no
    formatting, no table syntax, no mention, reference or link; at most `limit` characters of
    the value (None: hookctl's own sentence, shown whole)."""
    # A pipe would split the cell, < and & could open HTML, * _ ` [ ] ~ format.
    text = _cell(value, limit) if limit is not None else _safe(value)
    for char, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        text = text.replace(char, escaped)
    text = "".join(f"\\{c}" if c in "*_`[]~" else c for c in text)
    return _MD_LIVE.sub(lambda m: m.group(0) + _WORD_JOINER, text)


def _md_code(value: str) -> str:
    # Inside a code span nothing is formatted or linked; only a pipe (table syntax wins over
    # the span) and backticks (the fence must be longer than any run inside) need care.
    text = _cell(value).replace("|", "\\|")
    if "`" not in text:
        return f"`{text}`"
    fence = "`" * (max(len(run) for run in re.findall("`+", text)) + 1)
    return f"{fence} {text} {fence}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


# -- what any output may show ------------------------------------------------------------------

# A url inside free text: a scheme, then everything up to the next space (a query value may
# hold any other character, and all of it must be hidden)...
_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
# ...but for the punctuation that ends the sentence around it, as in "(now ... ?token=x);",
_SENTENCE_END = re.compile(r"[)\]}'\".,;:!?]+$")
# except the parenthesis that closes a value masked already, `***(1f3a9c)`.
_OPEN_MASK = re.compile(r"\*\*\*\([0-9a-f]{6}$")


def mask_text(text: str, limit: int | None = None) -> str:
    """`text` with every url in it shown through mask_url (and cut at `limit` characters, when
    given): for free text that may quote a hook url, such as a plan's reasons, Keap's error
    messages and what an apply says about a change. Masking twice changes nothing."""
    if "://" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        url, tail = match.group(0), ""
        end = _SENTENCE_END.search(url)
        if end is not None:
            url, tail = url[: end.start()], end.group(0)
            if tail.startswith(")") and _OPEN_MASK.search(url):
                url, tail = url + ")", tail[1:]
        url = mask_url(url)
        return (clip(url, limit) if limit is not None else url) + tail

    return _URL_IN_TEXT.sub(one, text)


def shown(text: str) -> str:
    """Free text (a reason, an error, a log line) as a terminal may show it: urls masked and
    cut, control characters escaped, so that it stays on its one line."""
    return _safe(mask_text(text, CELL_MAX))


def clip(text: str, limit: int = CELL_MAX) -> str:
    """`text` cut to `limit` characters, the last one an ellipsis when anything was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(value: str, limit: int = CELL_MAX) -> str:
    if len(value) <= limit and value.isprintable():
        return value  # nearly always, and a plan has tens of thousands of cells
    # Cut before escaping as well as after: escaping a 20 MB value only to cut it is slow.
    return clip(_safe(clip(value, limit)), limit)


def _url_cell(url: str, *, reveal: bool = False) -> str:
    # A revealed url is shown whole: whoever asks for it needs all of it.
    return _safe(url) if reveal else _cell(mask_url(url))


def _field_cell(field: str, value: str) -> str:
    return _url_cell(value) if field == "hook_url" else _cell(value)


def _safe(value: str) -> str:
    """The value with non-printable characters (ESC, CR, newlines, lone surrogates, bidi
    controls, ...) escaped."""
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def _painter(color: bool) -> Callable[[str, str], str]:
    def paint(style: str, text: str) -> str:
        return f"\033[{_ANSI[style]}m{text}\033[0m" if color else text

    return paint
