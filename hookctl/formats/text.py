"""The rules every output follows, in one place: urls masked, Keap's text escaped, cells
capped, markdown that links and mentions nothing, and the cells of a plan's tables. The plan,
report and document renderers all build on these; they return strings and never print.

Everything shown is treated as hostile or secret, wherever it came from:
- hook urls carry credentials (receivers authenticate Keap by a token in the query), so every
  url is shown through hookctl.domain.urls.mask_url, and urls inside free text (reasons, Keap's
  error messages) through mask_text; only `hooks list/get --reveal` shows real ones;
- values from Keap are untrusted: control characters are shown escaped, so a hostile hookUrl
  cannot move the cursor or forge lines in a terminal or a comment; markdown escapes its syntax,
  @mentions, #references and links, and chat text escapes Slack's `& < >`;
- a table cell holds at most CELL_MAX characters, so one huge url cannot make a huge comment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from hookctl.domain.models import Hook
from hookctl.domain.planner import ACTIONS, Change, Delete, Plan, Update
from hookctl.domain.results import PROBED_ACTIONS
from hookctl.domain.secrets import scrub
from hookctl.domain.urls import mask_url
from hookctl.formats.grouping import Fold

if TYPE_CHECKING:
    from hookctl.domain.results import Probe

_T = TypeVar("_T")
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
EMOJI = {"create": "🟢", "update": "🟡", "verify": "🔵", "delete": "🔴"}
# plan --probe in markdown: passes, passes only with `hooks verify --secret`, fails.
PROBE_MARKS = {"ok": "✅", "delayed": "⏳"}
_ANSI = {"create": "32", "update": "33", "verify": "36", "delete": "31", "dim": "2", "bold": "1"}


def summary_line(plan: Plan) -> str:
    """'2 to create, 1 to delete; 10 unchanged, 3 unmanaged' (or 'No changes; ...')."""
    counts = plan.summary()
    doing = ", ".join(f"{counts[a]} to {a}" for a in ACTIONS if counts[a])
    seen = f"{counts['unchanged']} unchanged, {counts['unmanaged']} unmanaged"
    return f"{doing}; {seen}" if doing else f"No changes; {seen}"


def fold_reason(fold: Fold) -> str | None:
    first = fold.changes[0]
    if first.action in ("create", "update"):
        return None  # the line says it all
    if isinstance(first, Delete) and first.duplicate and len(fold.changes) > 1:
        return "extra copies of declared subscriptions (the Verified, else oldest, copy is kept)"
    return fold.reason


def change_row(change: Change) -> Sequence[str]:
    hook_url = md_code(mask_url(change.hook_url))
    reason = markdown_text(mask_text(change.reason))
    if isinstance(change, Update):
        hook_url = (
            f"{md_code(mask_url(change.old_hook_url))} → {hook_url}"
            if change.old_hook_url != change.hook_url
            else hook_url
        )
        event = md_code(change.event_key)
        if change.old_event_key != change.event_key:
            event = f"{md_code(change.old_event_key)} → {event}"
    else:
        event = md_code(change.event_key)
    return (
        EMOJI[change.action],
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
    'no echo, 12 ms' (in markdown a mark and the outcome only); empty for a delete, a url not
    probed, or a plan made without --probe."""

    probe = probes.get(change.hook_url) if probes and change.action in PROBED_ACTIONS else None
    if probe is None:
        return ""
    if not markdown:
        return probe.label
    # Markdown is a pull request's comment: the outcome's name, never a timing.
    return f"{PROBE_MARKS.get(probe.outcome, '❌')} {probe.outcome}"


def hook_row(hook: Hook) -> Sequence[str]:
    return (
        markdown_text(hook.key),
        md_code(hook.event_key),
        md_code(mask_url(hook.hook_url)),
        hook.status,
    )


def md_table(
    header: Sequence[str], items: Sequence[_T], row: Callable[[_T], Sequence[str]], max_rows: int
) -> list[str]:
    lines = [md_row(header), md_row(["---"] * len(header))]
    lines.extend(md_row(row(item)) for item in items[:max_rows])
    if len(items) > max_rows:
        lines.append("")
        lines.append(f"… and {len(items) - max_rows} more (see `--format json` for all of them)")
    lines.append("")
    return lines


def md_row(cells: Iterable[str]) -> str:
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
    text = cell(value, limit) if limit is not None else safe(value)
    for char, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        text = text.replace(char, escaped)
    text = "".join(f"\\{c}" if c in "*_`[]~" else c for c in text)
    return _MD_LIVE.sub(lambda m: m.group(0) + _WORD_JOINER, text)


def md_code(value: str) -> str:
    # Inside a code span nothing is formatted or linked; only a pipe (table syntax wins over
    # the span) and backticks (the fence must be longer than any run inside) need care.
    text = cell(value).replace("|", "\\|")
    if "`" not in text:
        return f"`{text}`"
    fence = "`" * (max(len(run) for run in re.findall("`+", text)) + 1)
    return f"{fence} {text} {fence}"


def counted(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


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
    messages and what an apply says about a change. Masking twice changes nothing. A value
    hooks.yaml interpolated from the environment is hidden wherever it is in the text."""
    text = scrub(text)
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
    return safe(mask_text(text, CELL_MAX))


def clip(text: str, limit: int = CELL_MAX) -> str:
    """`text` cut to `limit` characters, the last one an ellipsis when anything was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cell(value: str, limit: int = CELL_MAX) -> str:
    if len(value) <= limit and value.isprintable():
        return value  # nearly always, and a plan has tens of thousands of cells
    # Cut before escaping as well as after: escaping a 20 MB value only to cut it is slow.
    return clip(safe(clip(value, limit)), limit)


def url_cell(url: str, *, reveal: bool = False) -> str:
    # A revealed url is shown whole: whoever asks for it needs all of it.
    return safe(url) if reveal else cell(mask_url(url))


def field_cell(field: str, value: str) -> str:
    return url_cell(value) if field == "hook_url" else cell(value)


def safe(value: str) -> str:
    """The value with non-printable characters (ESC, CR, newlines, lone surrogates, bidi
    controls, ...) escaped."""
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def painter(color: bool) -> Callable[[str, str], str]:
    def paint(style: str, text: str) -> str:
        return f"\033[{_ANSI[style]}m{text}\033[0m" if color else text

    return paint
