"""The terminal side of the command line: what a person sees and is asked. Where each account's
part of plan, apply or drift goes, under which heading, how errors and log lines read, the
closing list when a run covers several accounts, and the prompts. The CLI decides what to show;
this prints it, from the text the renderers (hookctl.formats.render) build.

Whatever text this prints that did not come from hookctl itself (Keap's error messages and
keys, hook urls, file names) goes through shown: urls masked, control characters
escaped, one line stays one line.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from hookctl.engine.selection import CURRENT
from hookctl.errors import ConfigError, HookctlError, KeapError, PlanError
from hookctl.formats import documents, render, reports
from hookctl.formats.markdown import plan_markdown
from hookctl.formats.text import (
    CELL_MAX,
    MARKDOWN_MAX_CHARS,
    clip,
    markdown_text,
    mask_text,
    shown,
    summary_line,
)

if TYPE_CHECKING:
    from hookctl.domain.planner import Plan
    from hookctl.domain.results import ApplyReport, Probe
    from hookctl.domain.results import Outcome as ChangeOutcome
    from hookctl.engine.selection import Outcome, Selected

__all__ = [
    "STEP_SUMMARY_MAX_BYTES",
    "LogFormatter",
    "Progress",
    "Run",
    "ask",
    "color",
    "configure",
    "error",
    "error_lines",
    "heading",
    "label_log_lines",
    "preview",
    "print_json",
    "render_plan",
    "step_summary",
]

T = TypeVar("T")

# GitHub shows at most 1 MiB of a step's summary (and refuses the upload of a larger one).
STEP_SUMMARY_MAX_BYTES = 1_000_000

logger = logging.getLogger(__name__)


# --color: auto (the default) decides per stream, as color() says; always and never do not ask.
_COLOR_MODE = ["auto"]


def color(stream: Any, env: Mapping[str, str] | None = None) -> bool:
    """Whether to colour what goes to `stream`; the only place this is decided. --color
    always/never win; auto: no with NO_COLOR set to anything but the empty string (no-color.org)
    or TERM=dumb, yes with FORCE_COLOR or CLICOLOR_FORCE set and not 0 (CI logs that show
    colour), else yes only on a terminal."""
    mode = _COLOR_MODE[0]
    if mode != "auto":
        return mode == "always"
    env = os.environ if env is None else env
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    if any(env.get(name, "0") not in ("", "0") for name in ("FORCE_COLOR", "CLICOLOR_FORCE")):
        return True
    return bool(hasattr(stream, "isatty") and stream.isatty())


# -v: one line (or object) per subscription instead of entries with folded changes.
VERBOSE = [False]


def configure(color_mode: str, verbose: bool) -> None:
    """This run's --color choice (auto, always or never) and whether -v was given."""
    _COLOR_MODE[0] = color_mode
    VERBOSE[0] = verbose


def render_plan(
    plan: Plan,
    fmt: Any,
    stream: TextIO | None = None,
    probes: Mapping[str, Probe] | None = None,
    **markdown: Any,
) -> str:
    """The plan as it is to be written to `stream` (stdout by default), coloured as color()
    decides; with `probes`, what each change's url answered to the handshake (plan --probe);
    `markdown` holds render_plan's refusal and limit."""
    rendered = render.render_plan(
        plan, fmt, color=color(stream or sys.stdout), verbose=VERBOSE[0], probes=probes, **markdown
    )
    return rendered.rstrip("\n")


def heading(selected: Selected, fmt: str, stream: TextIO | None = None) -> None:
    """With several accounts, what starts each account's part of the output."""
    label = shown(selected.label)
    text = f"=== {label} ===" if fmt == "text" else f"## {markdown_text(selected.label)}"
    print(f"\n{text}\n", file=stream or sys.stdout)


def error(
    exc: HookctlError, selected: Selected | None = None, seen: set[str] | None = None
) -> None:
    """An error's lines on stderr, after the account's label when `selected` is given. A config
    error's lines name their file and line already, and an entry meant for several accounts
    gives the same line for each: with `seen`, each such line is printed once."""
    if isinstance(exc, ConfigError) and seen is not None:
        for line in error_lines(exc):
            if line not in seen:
                seen.add(line)
                print(f"hookctl: error: {line}", file=sys.stderr)
        return
    prefix = f"{shown(selected.label)}: " if selected is not None else ""
    for line in error_lines(exc):
        print(f"hookctl: error: {prefix}{line}", file=sys.stderr)


def error_lines(exc: HookctlError) -> list[str]:
    """The lines an error is shown as, each as shown gives it. An error quoting what
    Keap said or listed (its message, a hook url) is one line, whatever that text holds."""
    text = str(exc)
    lines = [text] if isinstance(exc, (KeapError, PlanError)) else text.splitlines()
    return [shown(line) for line in lines] or [type(exc).__name__]


class LogFormatter(logging.Formatter):
    """Log lines on stderr: each record one line, with urls masked and control characters
    escaped (shown), whatever Keap or a url put in its arguments."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = shown(record.message)
        return super().formatMessage(record)


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2))


def step_summary(
    plan: Plan,
    title: str,
    command: str = "plan",
    refusal: str | None = None,
    probes: Mapping[str, Probe] | None = None,
) -> None:
    """In GitHub Actions, append the markdown plan to the job summary, keeping the file under
    STEP_SUMMARY_MAX_BYTES: what does not fit is cut, with a pointer to `command`'s JSON."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    markdown = plan_markdown(plan, title=title, refusal=refusal, probes=probes)
    text = (markdown + "\n").encode("utf-8")
    try:
        with open(path, "ab") as summary:
            room = STEP_SUMMARY_MAX_BYTES - summary.seek(0, os.SEEK_END)
            if len(text) > room:
                text = _cut(text, room, command)
            summary.write(text)
    except OSError as exc:
        logger.warning("could not write $GITHUB_STEP_SUMMARY: %s", exc.strerror)


def _cut(text: bytes, room: int, command: str) -> bytes:
    """As many whole lines of `text` as fit in `room` bytes with a line saying where the rest
    is; nothing when not even that line fits."""
    pointer = (
        f"\n… cut here: GitHub shows at most 1 MiB of a job summary; "
        f"`hookctl {command} --format json` shows all of it.\n\n"
    ).encode()
    if room < len(pointer):
        logger.warning("$GITHUB_STEP_SUMMARY is full: the %s is not added to it", command)
        return b""
    head = text[: room - len(pointer)]
    return head[: head.rfind(b"\n") + 1] + pointer


def label_log_lines() -> None:
    """With several accounts at once, start each log line with the account it is about (once,
    however often it is called)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(_labelled)


def _labelled(record: logging.LogRecord) -> bool:
    account = CURRENT.get()
    if account is not None and not getattr(record, "labelled", False):
        # A % in a label (a file name) must not be taken for a format of the arguments.
        record.msg = f"{account.replace('%', '%%')}: {record.msg}"
        record.labelled = True
    return True


def preview(plans: Sequence[tuple[Selected, Plan]], fmt: str, multi: bool) -> None:
    """The plans apply is about to carry out. The report in json or markdown owns stdout; the
    preview then goes to stderr."""
    stream = sys.stdout if fmt == "text" else sys.stderr
    for selected, plan in plans:
        if multi:
            heading(selected, "text", stream)
        print(render_plan(plan, "text", stream), file=stream)


class Progress:
    """What an apply shows on stderr while it writes, over all its accounts.

    On a terminal one line, rewritten after each change: `[37/300] create svc-2 task.add  12 s,
    ~1 min left`. Elsewhere (CI logs) one line per finished change with the counter and its
    result, never a carriage return. It also keeps what was done, so that an interrupted
    apply can say what was and was not (interrupted())."""

    def __init__(self, plans: Sequence[tuple[Selected, Plan]], *, tty: bool, multi: bool) -> None:
        self.total = sum(len(plan.changes) for _, plan in plans)
        self.tty = tty
        self.multi = multi
        self._plans = plans
        self._done: list[ChangeOutcome] = []
        self._width = 0
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def step(self, label: str) -> Callable[[ChangeOutcome], None]:
        """What is called after each write of the account `label` ("" with one account)."""
        prefix = f"{shown(label)}: " if label else ""

        def one(outcome: ChangeOutcome) -> None:
            with self._lock:  # accounts finish changes side by side, each in its thread
                self._show(prefix, outcome)

        return one

    def _show(self, prefix: str, outcome: ChangeOutcome) -> None:
        self._done.append(outcome)
        counter = f"[{len(self._done)}/{self.total}]"
        if not self.tty:
            print(prefix + reports.progress_line(counter, outcome), file=sys.stderr)
            return
        elapsed = time.monotonic() - self._started
        left = elapsed / len(self._done) * (self.total - len(self._done))
        line = prefix + reports.progress_line(counter, outcome, elapsed, left)
        # Padded over what the last line left, so no tail of it shows.
        sys.stderr.write("\r" + line.ljust(self._width))
        sys.stderr.flush()
        self._width = len(line)

    def finish(self) -> None:
        """End the updating line, so that what comes next starts on a line of its own."""
        if self.tty and self._width:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._width = 0

    def interrupted(self) -> None:
        """After Ctrl-C: what was done and what was not, on stderr."""
        self.finish()
        done = {id(o.change) for o in self._done}
        counts: dict[str, int] = {}
        for o in self._done:
            counts[o.result] = counts.get(o.result, 0) + 1
        results = ", ".join(f"{n} {result}" for result, n in sorted(counts.items()))
        print(
            f"hookctl: interrupted after {len(self._done)} of {self.total} changes"
            + (f" ({results})" if results else ""),
            file=sys.stderr,
        )
        for selected, plan in self._plans:
            left = [c for c in plan.changes if id(c) not in done]
            if not left:
                continue
            where = f"{shown(selected.label)}: " if self.multi else ""
            entries = shown(", ".join(sorted({c.name or "(not declared)" for c in left})))
            print(
                f"hookctl: {where}not done (or not confirmed, for writes in flight): "
                f"{len(left)} changes, of {clip(entries)}",
                file=sys.stderr,
            )
        print(
            "hookctl: nothing is lost: `hookctl plan` shows what is left, and apply again "
            "finishes it",
            file=sys.stderr,
        )


def ask(question: str, flag: str, about: Callable[[], str] | None = None) -> bool:
    """Whether the person at the terminal answers `yes`, after the text `about` gives, if any;
    HookctlError, naming `flag` that does without asking, when there is no terminal to ask on."""
    if not sys.stdin.isatty():
        raise HookctlError(
            f"refusing to go on without confirmation: there is no terminal to ask on "
            f"(review first, then add {flag})"
        )
    if about is not None:
        print(about(), file=sys.stderr)
    try:
        # The prompt goes to stderr: stdout may be a JSON or markdown report.
        print(f"{question} Only 'yes' is accepted: ", end="", file=sys.stderr, flush=True)
        answer = input()
    except EOFError:
        answer = ""
    if answer.strip() != "yes":
        print("Cancelled.", file=sys.stderr)
        return False
    return True


class Run:
    """The output of plan, apply or drift over its accounts. With one account it is that
    account's output alone, as it has always been; with several, each account's part comes
    under a heading and a closing list gives every account's outcome in a line, or, in json,
    one document (schemas/accounts.schema.json) holds them all."""

    def __init__(
        self, command: str, fmt: str, chosen: Sequence[Selected], several: bool = False
    ) -> None:
        self.command = command
        self.fmt = fmt
        # Several accounts' shape, whenever the input may hold several (selection decides).
        self.multi = several or len(chosen) > 1
        self.ok = True
        self._order = {selected.label: index for index, selected in enumerate(chosen)}
        self._rows: list[tuple[Selected, str]] = []
        self._results: list[tuple[str, str, str, Any, str | None]] = []
        self._shown: set[str] = set()
        # A PR comment holds at most MARKDOWN_MAX_CHARS: each account gets a share.
        self._markdown_room = MARKDOWN_MAX_CHARS // (len(chosen) + 1 if self.multi else 1)

    def section(self, selected: Selected) -> bool:
        """Start an account's part; whether it is to be printed now (json with several
        accounts waits for the single document)."""
        if self.fmt == "html":
            return False  # the fleet page (cli.fleet) shows every account, written at the end
        if self.multi and self.fmt != "json":
            heading(selected, self.fmt)
        return not (self.multi and self.fmt == "json")

    def plan(
        self,
        selected: Selected,
        plan: Plan,
        refusal: HookctlError | None = None,
        probes: Mapping[str, Probe] | None = None,
    ) -> bool:
        """An account's plan, with what its urls answered to the handshake when `probes`; one
        that apply would refuse (`refusal`) fails the run. Whether the plan stands."""
        shown = str(refusal) if refusal is not None else None
        self._show(selected, plan, refusal=shown, probes=probes)
        document = documents.plan_document(plan, probes)
        if refusal is not None:
            self.failed(selected, refusal, document, shown=True)
            return False
        self.done(selected, summary_line(plan), document)
        return True

    def drift(self, selected: Selected, plan: Plan, report: Any) -> None:
        """An account's plan as a drift check sees it; `report` is the drift document."""
        self._show(selected, plan, report)
        drifted = "drifted: " if plan.has_changes else ""
        self.done(selected, drifted + summary_line(plan), report)

    def report(self, selected: Selected, result: ApplyReport) -> None:
        """An account's apply report; one that is not ok fails the run."""
        if not result.ok:
            self.ok = False
        document = documents.report_document(result)
        self.done(
            selected, reports.report_summary(result) if result.outcomes else "No changes.", document
        )
        if not self.section(selected):
            return
        if self.fmt == "json":
            print_json(document)
        elif not result.outcomes:
            print(f"No changes. The account matches {selected.source}.")
        elif self.fmt == "markdown":
            print(reports.report_markdown(result))
        else:
            text = reports.report_text(result, color=color(sys.stdout), verbose=VERBOSE[0])
            print(text.rstrip("\n"))

    def _show(
        self,
        selected: Selected,
        plan: Plan,
        document: Any = None,
        refusal: str | None = None,
        probes: Mapping[str, Probe] | None = None,
    ) -> None:
        """An account's plan (in json, `document` instead when given), and in GitHub Actions
        the same in markdown in the job summary; markdown says first why apply would refuse
        it (`refusal`), and each account's part keeps to its share of a PR comment's size."""
        if self.section(selected):
            if self.fmt == "json" and document is not None:
                print_json(document)
            else:
                room = self._markdown_room
                command = f"hookctl {self.command}"
                shown = render_plan(
                    plan, self.fmt, probes=probes, refusal=refusal, limit=room, title=command
                )
                print(shown)
        title = f"hookctl {self.command}" + (f": {selected.label}" if self.multi else "")
        step_summary(plan, title, self.command, refusal, probes)

    def each(self, outcomes: Sequence[Outcome[T]]) -> Iterator[tuple[Selected, T]]:
        """The accounts whose work gave a value; the others are reported as failed."""
        for outcome in outcomes:
            if outcome.value is not None:
                yield outcome.selected, outcome.value
            elif outcome.error is not None:
                self.failed(outcome.selected, outcome.error)

    def done(self, selected: Selected, line: str, result: Any) -> None:
        self._add(selected, line, result, None)

    def failed(
        self, selected: Selected, exc: HookctlError, result: Any = None, *, shown: bool = False
    ) -> None:
        """An account that failed; in markdown, unless its plan was `shown` with the refusal,
        its section says why, so that a PR comment shows every account."""
        self.ok = False
        error(exc, selected if self.multi else None, self._shown)
        if self.fmt == "markdown" and not shown:
            if self.multi:
                heading(selected, self.fmt)
            else:
                print(f"### hookctl {self.command}\n")
            text = markdown_text(mask_text(str(exc)), limit=CELL_MAX * 5)
            print(f"> [!CAUTION]\n> **Failed:** {text}\n")
        lines = error_lines(exc)
        more = f" (and {len(lines) - 1} more lines)" if len(lines) > 1 else ""
        self._add(selected, f"failed: {lines[0]}{more}", result, str(exc))

    def _add(self, selected: Selected, line: str, result: Any, error: str | None) -> None:
        self._rows.append((selected, line))
        self._results.append(
            (selected.label, selected.account.name, selected.source, result, error)
        )

    def not_applied(self, chosen: Sequence[Selected]) -> None:
        """Bad input writes nothing anywhere: the accounts that could have been applied say so,
        and the run ends."""
        if self.multi:
            print("hookctl: error: nothing was applied to any account", file=sys.stderr)
        for selected in chosen:
            self.done(selected, "not applied: a hooks file has errors", None)
        self.close()

    def close(self) -> None:
        if not self.multi or self.fmt == "html":
            return
        # In the order of the files and their accounts, whatever order they finished in.
        self._rows.sort(key=lambda row: self._order[row[0].label])
        self._results.sort(key=lambda result: self._order[result[0]])
        if self.fmt == "json":
            print_json(documents.accounts_document(self.command, self._results, self.ok))
            return
        if self.fmt == "markdown":
            print("\n## Accounts\n")
            print(
                "\n".join(
                    f"- **{markdown_text(selected.label)}**: " + markdown_text(text, limit=None)
                    for selected, text in self._rows
                )
            )
            return
        labels = [shown(selected.label) for selected, _ in self._rows]
        width = max((len(label) for label in labels), default=0)
        print("\n=== accounts ===\n")
        print(
            "\n".join(
                f"{label.ljust(width)}  {text}"
                for label, (_, text) in zip(labels, self._rows, strict=True)
            )
        )
