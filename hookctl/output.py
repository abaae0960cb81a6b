"""The terminal side of the command line: what a person sees and is asked. Where each account's
part of plan, apply or drift goes, under which heading, how errors and log lines read, the
closing list when a run covers several accounts, and the prompts. The CLI decides what to show;
this prints it, from the text the renderers (hookctl.render) build.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from hookctl import documents, render
from hookctl.accounts import CURRENT
from hookctl.errors import ConfigError, HookctlError

if TYPE_CHECKING:
    from hookctl.accounts import Outcome, Target
    from hookctl.applier import ApplyReport
    from hookctl.applier import Outcome as ChangeOutcome
    from hookctl.models import DesiredState
    from hookctl.operations import Imported, Request
    from hookctl.planner import Plan

__all__ = [
    "Run",
    "ask",
    "color",
    "error",
    "heading",
    "hook_secret",
    "hooks_file",
    "hooks_result",
    "label_log_lines",
    "preview",
    "print_json",
    "progress",
    "render_plan",
    "step_summary",
    "valid",
]

T = TypeVar("T")

logger = logging.getLogger(__name__)


def color(stream: Any) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def render_plan(plan: Plan, fmt: Any, stream: TextIO | None = None) -> str:
    """The plan as it is to be written to `stream` (stdout by default), coloured if a terminal."""
    return render.render_plan(plan, fmt, color=color(stream or sys.stdout)).rstrip("\n")


def heading(target: Target, fmt: str, stream: TextIO | None = None) -> None:
    """With several accounts, what starts each account's part of the output."""
    text = f"=== {target.label} ===" if fmt == "text" else f"## {target.label}"
    print(f"\n{text}\n", file=stream or sys.stdout)


def error(exc: HookctlError, target: Target | None = None, shown: set[str] | None = None) -> None:
    """An error's lines on stderr, after the account's label when `target` is given. A config
    error's lines name their file and line already, and an entry meant for several accounts
    gives the same line for each: with `shown`, each such line is printed once."""
    if isinstance(exc, ConfigError) and shown is not None:
        for line in str(exc).splitlines():
            if line not in shown:
                shown.add(line)
                print(f"hookctl: error: {line}", file=sys.stderr)
        return
    prefix = f"{target.label}: " if target is not None else ""
    for line in str(exc).splitlines() or [type(exc).__name__]:
        print(f"hookctl: error: {prefix}{line}", file=sys.stderr)


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2))


def step_summary(plan: Plan, title: str) -> None:
    """In GitHub Actions, append the markdown plan to the job summary."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(render.plan_markdown(plan, title=title) + "\n")
    except OSError as exc:
        logger.warning("could not write $GITHUB_STEP_SUMMARY: %s", exc.strerror)


def label_log_lines() -> None:
    """With several accounts at once, start each log line with the account it is about."""

    def label(record: logging.LogRecord) -> bool:
        account = CURRENT.get()
        if account is not None and not getattr(record, "labelled", False):
            # A % in a label (a file name) must not be taken for a format of the arguments.
            record.msg = f"{account.replace('%', '%%')}: {record.msg}"
            record.labelled = True
        return True

    for handler in logging.getLogger().handlers:
        handler.addFilter(label)


def valid(target: Target, desired: DesiredState) -> None:
    """The line `hookctl validate` gives an account whose file is valid."""
    where = target.source
    if target.document.declares_accounts:
        where += f" (account {target.account.name})"
    hooks = {sub.name for sub in desired.subscriptions}
    print(f"{where}: valid ({len(desired.subscriptions)} subscriptions in {len(hooks)} hooks)")


def preview(plans: Sequence[tuple[Target, Plan]], fmt: str, multi: bool) -> None:
    """The plans apply is about to carry out. The report in json or markdown owns stdout; the
    preview then goes to stderr."""
    stream = sys.stdout if fmt == "text" else sys.stderr
    for target, plan in plans:
        if multi:
            heading(target, "text", stream)
        print(render_plan(plan, "text", stream), file=stream)


def hooks_result(request: Request, result: Any, fmt: str, *, total: int = 0) -> None:
    """What a `hookctl hooks` operation gave; `total` is how many a listing chose from."""
    if fmt == "json":
        print_json(render.hooks_json(result))
    elif result is None:
        print(f"Deleted {request.key}.")
    elif request.operation == "list":
        if result:
            print(render.hooks_table(result))
        print(render.hooks_count(result, total))
    elif request.operation == "types":
        print(render.hooks_table(result, empty="No event types."))
    else:
        print(render.hooks_table(result))


def hooks_file(imported: Imported, path: str | None, *, overwrite: bool = False) -> None:
    """The file `hookctl import` made, written to `path` (stdout when None), then what it holds
    and how a plan of it looks, on stderr."""
    if path:
        try:
            with open(path, "w" if overwrite else "x", encoding="utf-8") as out:
                out.write(imported.text)
        except FileExistsError:
            raise HookctlError(f"{path} exists; add --force to overwrite it") from None
        except OSError as exc:
            raise HookctlError(f"cannot write {path}: {exc.strerror}") from None
    else:
        sys.stdout.write(imported.text)
    subscriptions = imported.desired.subscriptions
    print(
        f"hookctl: {'wrote ' + path if path else 'imported'}: "
        f"{len({sub.name for sub in subscriptions})} hooks, {len(subscriptions)} subscriptions. "
        f"A plan on it now: {render.summary_line(imported.plan)}.",
        file=sys.stderr,
    )


def progress(label: str, show: bool) -> Callable[[ChangeOutcome], None]:
    """What is called after each write of an account's apply: on a terminal, shows what was
    done, after the account's `label` when there is one."""
    prefix = f"{label}: " if label else ""

    def step(outcome: ChangeOutcome) -> None:
        if show:
            change = outcome.change
            print(
                f"  {prefix}{outcome.result:<10} {change.action} {change.name or change.key}",
                file=sys.stderr,
            )

    return step


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


def hook_secret(secret: str | None, secret_env: str | None) -> str | None:
    """The X-Hook-Secret for delayed verification: from $VAR, or from stdin with `-` (asked
    for without echo on a terminal), so that it need not sit in shell history."""
    from hookctl.auth import clean_secret

    if secret_env:
        value = clean_secret(os.environ.get(secret_env, ""), f"${secret_env}")
        if not value:
            raise HookctlError(f"--secret-env: ${secret_env} is not set")
        return value
    if secret == "-":
        if sys.stdin.isatty():
            import getpass

            value = getpass.getpass("X-Hook-Secret: ")
        else:
            # The line's end is no part of the secret.
            value = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        value = clean_secret(value, "the secret on stdin (--secret -)")
        if not value:
            raise HookctlError("--secret -: no secret on stdin")
        return value
    return clean_secret(secret, "--secret") if secret else None


class Run:
    """The output of plan, apply or drift over its accounts. With one account it is that
    account's output alone, as it has always been; with several, each account's part comes
    under a heading and a closing list gives every account's outcome in a line, or, in json,
    one document (schemas/accounts.schema.json) holds them all."""

    def __init__(self, command: str, fmt: str, targets: Sequence[Target]) -> None:
        self.command = command
        self.fmt = fmt
        self.multi = len(targets) > 1
        self.ok = True
        self._order = {target.label: index for index, target in enumerate(targets)}
        self._rows: list[tuple[Target, str]] = []
        self._results: list[tuple[str, str, str, Any, str | None]] = []
        self._shown: set[str] = set()

    def section(self, target: Target) -> bool:
        """Start an account's part; whether it is to be printed now (json with several
        accounts waits for the single document)."""
        if self.multi and self.fmt != "json":
            heading(target, self.fmt)
        return not (self.multi and self.fmt == "json")

    def plan(self, target: Target, plan: Plan, refusal: HookctlError | None = None) -> bool:
        """An account's plan; one that apply would refuse (`refusal`) fails the run. Whether
        the plan stands."""
        self._show(target, plan)
        document = documents.plan_document(plan)
        if refusal is not None:
            self.failed(target, refusal, document)
            return False
        self.done(target, render.summary_line(plan), document)
        return True

    def drift(self, target: Target, plan: Plan, report: Any) -> None:
        """An account's plan as a drift check sees it; `report` is the drift document."""
        self._show(target, plan, report)
        drifted = "drifted: " if plan.has_changes else ""
        self.done(target, drifted + render.summary_line(plan), report)

    def report(self, target: Target, result: ApplyReport) -> None:
        """An account's apply report; one that is not ok fails the run."""
        if not result.ok:
            self.ok = False
        document = documents.report_document(result)
        self.done(
            target, render.report_summary(result) if result.outcomes else "No changes.", document
        )
        if not self.section(target):
            return
        if self.fmt == "json":
            print_json(document)
        elif not result.outcomes:
            print(f"No changes. The account matches {target.source}.")
        elif self.fmt == "markdown":
            print(render.report_markdown(result))
        else:
            print(render.report_text(result, color=color(sys.stdout)).rstrip("\n"))

    def _show(self, target: Target, plan: Plan, document: Any = None) -> None:
        """An account's plan (in json, `document` instead when given), and in GitHub Actions
        the same in markdown in the job summary."""
        if self.section(target):
            if self.fmt == "json" and document is not None:
                print_json(document)
            else:
                print(render_plan(plan, self.fmt))
        step_summary(plan, f"hookctl {self.command}" + (f": {target.label}" if self.multi else ""))

    def each(self, outcomes: Sequence[Outcome[T]]) -> Iterator[tuple[Target, T]]:
        """The accounts whose work gave a value; the others are reported as failed."""
        for outcome in outcomes:
            if outcome.value is not None:
                yield outcome.target, outcome.value
            elif outcome.error is not None:
                self.failed(outcome.target, outcome.error)

    def done(self, target: Target, line: str, result: Any) -> None:
        self._add(target, line, result, None)

    def failed(self, target: Target, exc: HookctlError, result: Any = None) -> None:
        self.ok = False
        error(exc, target if self.multi else None, self._shown)
        lines = str(exc).splitlines() or [type(exc).__name__]
        more = f" (and {len(lines) - 1} more lines)" if len(lines) > 1 else ""
        self._add(target, f"failed: {lines[0]}{more}", result, str(exc))

    def _add(self, target: Target, line: str, result: Any, error: str | None) -> None:
        self._rows.append((target, line))
        self._results.append((target.label, target.account.name, target.source, result, error))

    def not_applied(self, targets: Sequence[Target]) -> None:
        """Bad input writes nothing anywhere: the accounts that could have been applied say so,
        and the run ends."""
        if self.multi:
            print("hookctl: error: nothing was applied to any account", file=sys.stderr)
        for target in targets:
            self.done(target, "not applied: a hooks file has errors", None)
        self.close()

    def close(self) -> None:
        if not self.multi:
            return
        # In the order of the files and their accounts, whatever order they finished in.
        self._rows.sort(key=lambda row: self._order[row[0].label])
        self._results.sort(key=lambda result: self._order[result[0]])
        if self.fmt == "json":
            print_json(documents.accounts_document(self.command, self._results, self.ok))
            return
        width = max(len(target.label) for target, _ in self._rows)
        if self.fmt == "markdown":
            print("\n## Accounts\n")
            print("\n".join(f"- **{target.label}**: {text}" for target, text in self._rows))
        else:
            print("\n=== accounts ===\n")
            print("\n".join(f"{target.label.ljust(width)}  {text}" for target, text in self._rows))
