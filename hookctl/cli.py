"""The command line: parses arguments, wires loader, client, planner and applier together, and
decides what the user sees. Heavy modules are imported inside the commands, so that
`hookctl --version` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hookctl import __version__
from hookctl.errors import ConfigError, HookctlError

if TYPE_CHECKING:
    from hookctl.accounts import Outcome, Target
    from hookctl.keap import Keap
    from hookctl.models import Account, DesiredState, Hook
    from hookctl.planner import Plan

logger = logging.getLogger("hookctl")

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"hookctl {__version__}")
        return EXIT_OK
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    _configure_logging(args.verbose)
    try:
        return int(args.func(args))
    except HookctlError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"hookctl: error: {line}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hookctl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hookctl",
        description="Infrastructure as code for Keap REST hook subscriptions.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more on stderr (-vv for debug)"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-url", help="Keap API base url (overrides KEAP_API_URL and hooks.yaml)"
    )
    common.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "-f",
        "--file",
        action="append",
        metavar="PATH",
        help="a hooks file, or a directory of *.yaml files; repeatable (default: hooks.yaml)",
    )
    config.add_argument(
        "--account",
        metavar="NAME",
        help="only this account of the files' accounts: (default: every account)",
    )
    config.add_argument(
        "--account-parallelism",
        type=_positive_int,
        default=4,
        metavar="N",
        help="accounts worked on at once, each with its own client and rate budget (default 4)",
    )
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--format", choices=("text", "markdown", "json"), default="text")

    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    validate = commands.add_parser(
        "validate", parents=[common, config], help="check hooks.yaml without writing anything"
    )
    validate.add_argument(
        "--offline",
        action="store_true",
        help="check event keys against the built-in list instead of the account",
    )
    validate.set_defaults(func=cmd_validate)

    plan = commands.add_parser(
        "plan", parents=[common, config, output], help="show what apply would change"
    )
    plan.add_argument("--out", metavar="PLANFILE", help="save the plan for `hookctl apply`")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when there are changes (0 none, 1 error)",
    )
    _safety_flags(plan)
    plan.set_defaults(func=cmd_plan)

    apply = commands.add_parser(
        "apply", parents=[common, config], help="make the account match hooks.yaml"
    )
    apply.add_argument("planfile", nargs="?", help="a plan saved by `hookctl plan --out`")
    apply.add_argument(
        "--dry-run", action="store_true", help="show what would be sent, send nothing"
    )
    apply.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    apply.add_argument(
        "--parallelism", type=_positive_int, default=4, help="concurrent writes (default 4)"
    )
    apply.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    _safety_flags(apply)
    apply.set_defaults(func=cmd_apply)

    drift = commands.add_parser(
        "drift",
        parents=[common, config, output],
        help="exit 2 when the account no longer matches hooks.yaml (for schedules)",
    )
    drift.add_argument(
        "--notify",
        metavar="URL",
        help="POST the JSON drift report (with a Slack-style `text`) here when drift is found",
    )
    drift.set_defaults(func=cmd_drift)

    _hooks_commands(commands, common)

    adopt = commands.add_parser(
        "import", parents=[common], help="write a hooks.yaml from the live account"
    )
    adopt.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    adopt.add_argument(
        "--prefix",
        action="append",
        default=[],
        metavar="URL",
        help="import only urls starting with URL and own that prefix (repeatable)",
    )
    adopt.add_argument("--all", action="store_true", help="own every subscription (all: true)")
    adopt.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    adopt.set_defaults(func=cmd_import)

    sandbox = commands.add_parser("sandbox", help="run the local Keap-compatible sandbox")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8787)
    sandbox.add_argument("--db", default=":memory:", help="SQLite file (default: in memory)")
    sandbox.add_argument(
        "--api-key",
        default=os.environ.get("KEAP_API_KEY", "sandbox-key"),
        help="the X-Keap-API-Key it accepts (default: $KEAP_API_KEY or 'sandbox-key')",
    )
    sandbox.add_argument("--latency", type=float, default=0.0, help="seconds added to each call")
    sandbox.add_argument(
        "--error-rate", type=float, default=0.0, help="share of calls answered 500"
    )
    sandbox.add_argument(
        "--throttle-rate", type=float, default=None, help="calls a second before answering 429"
    )
    sandbox.set_defaults(func=cmd_sandbox)
    return parser


def _hooks_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    fmt = argparse.ArgumentParser(add_help=False)
    fmt.add_argument("--format", choices=("table", "json"), default="table")
    fmt.add_argument(
        "--account",
        metavar="NAME",
        help="use this account's api_url and credentials variable from the hooks file",
    )
    fmt.add_argument(
        "-f",
        "--file",
        default="hooks.yaml",
        metavar="FILE",
        help="the hooks file --account is read from (default: hooks.yaml)",
    )
    hooks = commands.add_parser(
        "hooks", help="Keap's hooks operations, one subscription at a time"
    ).add_subparsers(title="operations", metavar="OPERATION", required=True)

    def op(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = hooks.add_parser(
            name, parents=[common, fmt], help=help_text
        )
        parser.set_defaults(func=cmd_hooks, operation=name)
        return parser

    op("types", "the event types this account can subscribe to")
    listing = op("list", "every subscription in the account")
    listing.add_argument("--status", choices=("Verified", "Unverified", "Inactive"))
    listing.add_argument("--event", metavar="GLOB", help="only event keys matching this glob")
    listing.add_argument("--url", metavar="GLOB", help="only hook urls matching this glob")
    op("get", "one subscription").add_argument("key")
    create = op("create", "subscribe a url to an event (Keap runs the handshake)")
    create.add_argument("event_key")
    create.add_argument("hook_url")
    update = op("update", "point a subscription at another event or url")
    update.add_argument("key")
    update.add_argument("event_key")
    update.add_argument("hook_url")
    delete = op("delete", "delete a subscription")
    delete.add_argument("key")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    verify = op("verify", "run the handshake again (reactivates an Inactive hook)")
    verify.add_argument("key")
    secret = verify.add_mutually_exclusive_group()
    secret.add_argument(
        "--secret",
        help="delayed verification with this X-Hook-Secret ('-' reads it from stdin)",
    )
    secret.add_argument(
        "--secret-env", metavar="VAR", help="delayed verification, secret read from $VAR"
    )


def _safety_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force", action="store_true", help="allow changes beyond the safety thresholds"
    )
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="allow a hooks.yaml with no hooks to delete every managed subscription",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("hookctl: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if verbosity < 3:
        # urllib3's debug lines add nothing we do not log ourselves.
        logging.getLogger("urllib3").setLevel(max(level, logging.INFO))


def _color(stream: Any) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


# -- wiring ------------------------------------------------------------------------------------


def _api_url(args: argparse.Namespace, account: Account | None) -> str | None:
    return args.api_url or os.environ.get("KEAP_API_URL") or (account and account.api_url) or None


def _client(args: argparse.Namespace, account: Account | None, pool_size: int = 8) -> Keap:
    from hookctl.keap import Keap

    return Keap(
        _api_url(args, account),
        api_key_env=account.api_key_env if account else None,
        access_token_env=account.access_token_env if account else None,
        pool_size=pool_size,
    )


def _targets(args: argparse.Namespace) -> list[Target]:
    """Every account of every hooks file `-f` names (or the one `--account` names), each file
    checked before anything is sent to Keap. With several, log lines name their account."""
    from hookctl import accounts
    from hookctl.models import DEFAULT_API_URL

    files = accounts.hooks_files(args.file or ["hooks.yaml"])
    targets = accounts.select(accounts.read_all(files), args.account)
    for first, second in accounts.same_account(
        targets, lambda account: _api_url(args, account) or DEFAULT_API_URL
    ):
        logger.warning(
            "%s and %s use the same credentials variable and API url: if they are one Keap "
            "account, their hooks files must declare different urls, or each apply undoes the "
            "other's work",
            first.label,
            second.label,
        )
    if len(targets) > 1:
        _label_log_lines()
    return targets


def _label_log_lines() -> None:
    """With several accounts at once, start each log line with the account it is about."""
    from hookctl.accounts import CURRENT

    def label(record: logging.LogRecord) -> bool:
        account = CURRENT.get()
        if account is not None and not getattr(record, "labelled", False):
            # A % in a label (a file name) must not be taken for a format of the arguments.
            record.msg = f"{account.replace('%', '%%')}: {record.msg}"
            record.labelled = True
        return True

    for handler in logging.getLogger().handlers:
        handler.addFilter(label)


@dataclass
class _Planned:
    """One account, planned: what it wants, what it has, the client that saw it, the plan."""

    desired: DesiredState
    keap: Keap
    live: list[Hook]
    plan: Plan


def _plan_each(
    args: argparse.Namespace,
    targets: Sequence[Target],
    *,
    pool_size: int = 8,
    check: Callable[[Target, _Planned], None] | None = None,
) -> list[Outcome[_Planned]]:
    """Plan every target side by side, each with its own client (left open for the caller to
    close, see _close). `check` runs in the target's thread and may refuse its plan."""
    from hookctl import accounts
    from hookctl.planner import plan

    def work(target: Target) -> _Planned:
        keap = _client(args, target.account, pool_size)
        try:
            # The account's event types are fetched only when the file needs them.
            desired = target.desired(keap.event_types)
            live = keap.list()
            planned = _Planned(desired, keap, live, plan(desired, live))
            if check is not None:
                check(target, planned)
        except BaseException:
            keap.close()
            raise
        return planned

    return accounts.run_each(targets, work, args.account_parallelism)


def _planned(
    args: argparse.Namespace, targets: Sequence[Target], run: _Run
) -> Iterator[tuple[Target, _Planned]]:
    """Plan every target (for reading only: the clients are closed), yield those planned
    and report the others to `run`."""
    outcomes = _plan_each(args, targets)
    _close(outcomes)
    for outcome in outcomes:
        if outcome.value is not None:
            yield outcome.target, outcome.value
        elif outcome.error is not None:
            run.failed(outcome.target, outcome.error)


def _close(outcomes: Sequence[Outcome[_Planned]]) -> None:
    for outcome in outcomes:
        if outcome.value is not None:
            outcome.value.keap.close()


def _plan(desired: DesiredState, live: Sequence[Hook]) -> Plan:
    from hookctl.planner import plan

    return plan(desired, live)


def _render_plan(plan: Plan, fmt: Any, stream: Any = None) -> str:
    """The plan as it is to be written to `stream` (stdout by default), coloured if a terminal."""
    from hookctl import render

    return render.render_plan(plan, fmt, color=_color(stream or sys.stdout)).rstrip("\n")


def _heading(target: Target, fmt: str, stream: Any = None) -> None:
    """With several accounts, what starts each account's part of the output."""
    text = f"=== {target.label} ===" if fmt == "text" else f"## {target.label}"
    print(f"\n{text}\n", file=stream or sys.stdout)


def _error(exc: HookctlError, target: Target | None = None, shown: set[str] | None = None) -> None:
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


def _print_json(document: Any) -> None:
    import json

    print(json.dumps(document, indent=2))


class _Run:
    """The output of plan, apply or drift over its accounts. With one account it is that
    account's output alone, as it has always been; with several, each account's part comes
    under a heading and a closing list gives every account's outcome in a line, or, in json,
    one document (schemas/accounts.schema.json) holds them all."""

    def __init__(self, command: str, fmt: str, targets: Sequence[Target]) -> None:
        self.command = command
        self.fmt = fmt
        self.multi = len(targets) > 1
        self.status = EXIT_OK
        self._order = {target.label: index for index, target in enumerate(targets)}
        self._rows: list[tuple[Target, str]] = []
        self._results: list[tuple[str, str, str, Any, str | None]] = []
        self._shown: set[str] = set()

    def section(self, target: Target) -> bool:
        """Start an account's part; whether it is to be printed now (json with several
        accounts waits for the single document)."""
        if self.multi and self.fmt != "json":
            _heading(target, self.fmt)
        return not (self.multi and self.fmt == "json")

    def done(self, target: Target, line: str, result: Any) -> None:
        self._add(target, line, result, None)

    def failed(self, target: Target, exc: HookctlError, result: Any = None) -> None:
        self.status = EXIT_ERROR
        _error(exc, target if self.multi else None, self._shown)
        lines = str(exc).splitlines() or [type(exc).__name__]
        more = f" (and {len(lines) - 1} more lines)" if len(lines) > 1 else ""
        self._add(target, f"failed: {lines[0]}{more}", result, str(exc))

    def _add(self, target: Target, line: str, result: Any, error: str | None) -> None:
        self._rows.append((target, line))
        self._results.append((target.label, target.account.name, target.source, result, error))

    def close(self) -> None:
        if not self.multi:
            return
        # In the order of the files and their accounts, whatever order they finished in.
        self._rows.sort(key=lambda row: self._order[row[0].label])
        self._results.sort(key=lambda result: self._order[result[0]])
        if self.fmt == "json":
            from hookctl import documents

            _print_json(
                documents.accounts_document(self.command, self._results, self.status == EXIT_OK)
            )
            return
        width = max(len(target.label) for target, _ in self._rows)
        if self.fmt == "markdown":
            print("\n## Accounts\n")
            print("\n".join(f"- **{target.label}**: {text}" for target, text in self._rows))
        else:
            print("\n=== accounts ===\n")
            print("\n".join(f"{target.label.ljust(width)}  {text}" for target, text in self._rows))


# -- commands ----------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from hookctl import accounts

    targets = _targets(args)

    def work(target: Target) -> DesiredState:
        if args.offline:
            return target.desired()
        with _client(args, target.account) as keap:
            return target.desired(keap.event_types)

    shown: set[str] = set()
    status = EXIT_OK
    for outcome in accounts.run_each(targets, work, args.account_parallelism):
        target, desired = outcome.target, outcome.value
        if outcome.error is not None:
            status = EXIT_ERROR
            _error(outcome.error, target if len(targets) > 1 else None, shown)
            continue
        assert desired is not None
        where = target.source
        if target.document.declares_accounts:
            where += f" (account {target.account.name})"
        hooks = {sub.name for sub in desired.subscriptions}
        print(f"{where}: valid ({len(desired.subscriptions)} subscriptions in {len(hooks)} hooks)")
    return status


def cmd_plan(args: argparse.Namespace) -> int:
    from hookctl import documents, render

    targets = _targets(args)
    if args.out and len(targets) > 1:
        raise HookctlError(
            f"--out saves the plan of one account, and this run covers {len(targets)} "
            f"({', '.join(t.label for t in targets)}): choose one with --account NAME "
            "(and one -f FILE)"
        )
    run = _Run("plan", args.format, targets)
    changes = False
    for target, planned in _planned(args, targets, run):
        plan = planned.plan
        if run.section(target):
            print(_render_plan(plan, args.format))
        _step_summary(plan, "hookctl plan" + (f": {target.label}" if run.multi else ""))
        changes = changes or plan.has_changes
        try:
            plan.check_safety(force=args.force, allow_empty=args.allow_empty)
        except HookctlError as exc:
            run.failed(target, exc, documents.plan_document(plan))
            continue
        run.done(target, render.summary_line(plan), documents.plan_document(plan))
        if args.out:
            from hookctl import planfile

            planfile.write(
                args.out,
                plan,
                config_digest=planned.desired.digest,
                live_fingerprint=planfile.fingerprint(planned.live),
                source=target.source,
                api_url=planned.keap.api_url,
                account=target.account.name,
            )
            logger.warning("plan saved to %s; apply it with: hookctl apply %s", args.out, args.out)
    run.close()
    if run.status == EXIT_OK and args.detailed_exitcode and changes:
        return EXIT_CHANGES
    return run.status


def cmd_drift(args: argparse.Namespace) -> int:
    from hookctl import documents, notify, render

    targets = _targets(args)
    run = _Run("drift", args.format, targets)
    drifted = False
    for target, planned in _planned(args, targets, run):
        plan = planned.plan
        report = documents.drift_document(
            plan,
            account=target.account.name,
            api_url=planned.keap.api_url,
            source=target.source,
            env=os.environ,
        )
        if run.section(target):
            if args.format == "json":
                _print_json(report)
            else:
                print(_render_plan(plan, args.format))
        _step_summary(plan, "hookctl drift" + (f": {target.label}" if run.multi else ""))
        run.done(
            target, ("drifted: " if plan.has_changes else "") + render.summary_line(plan), report
        )
        drifted = drifted or plan.has_changes
        if args.notify and plan.has_changes:
            try:
                notify.post(args.notify, report)
            except HookctlError as exc:
                # The drift itself is the news; a failed notification must not hide its exit code.
                _error(exc, target if run.multi else None)
    run.close()
    if run.status != EXIT_OK:
        return run.status
    return EXIT_CHANGES if drifted else EXIT_OK


def _step_summary(plan: Plan, title: str) -> None:
    """In GitHub Actions, append the markdown plan to the job summary."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    from hookctl import render

    try:
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(render.plan_markdown(plan, title=title) + "\n")
    except OSError as exc:
        logger.warning("could not write $GITHUB_STEP_SUMMARY: %s", exc.strerror)


def cmd_apply(args: argparse.Namespace) -> int:
    from hookctl import planfile
    from hookctl.accounts import UnknownAccount

    saved = planfile.read(args.planfile) if args.planfile else None
    if saved is not None:
        if args.account not in (None, saved.account):
            raise HookctlError(
                f"{saved.path} is a plan for account {saved.account!r}, not {args.account!r}"
            )
        args.file = args.file or [saved.source]
        args.account = saved.account
    try:
        targets = _targets(args)
    except UnknownAccount:
        if saved is None:
            raise
        raise HookctlError(
            f"{saved.path} is a plan for account {saved.account!r}, which "
            f"{', '.join(args.file)} no longer declares; run `hookctl plan` again"
        ) from None
    if saved is not None and len(targets) > 1:
        raise HookctlError(
            f"{saved.path} is a plan for one account, and {len(targets)} files declare "
            f"{saved.account!r}: name the file with -f FILE"
        )

    def check(target: Target, planned: _Planned) -> None:
        if saved is not None:
            planfile.ensure_fresh(
                saved,
                planned.desired.digest,
                planned.live,
                api_url=planned.keap.api_url,
                account=target.account.name,
            )
            planned.plan = saved.plan
        planned.plan.check_safety(force=args.force, allow_empty=args.allow_empty)

    outcomes = _plan_each(args, targets, pool_size=args.parallelism, check=check)
    try:
        return _apply(args, outcomes)
    finally:
        _close(outcomes)


def _apply(args: argparse.Namespace, outcomes: Sequence[Outcome[_Planned]]) -> int:
    from hookctl import accounts, documents, render
    from hookctl.applier import ApplyReport, apply

    run = _Run("apply", args.format, [outcome.target for outcome in outcomes])
    # Accounts that could not be planned are reported before anything is asked or sent.
    for outcome in outcomes:
        if outcome.error is not None:
            run.failed(outcome.target, outcome.error)
    if any(isinstance(outcome.error, ConfigError) for outcome in outcomes):
        # Bad input writes nothing anywhere: fixing the file and running again is all it takes.
        if run.multi:
            print("hookctl: error: nothing was applied to any account", file=sys.stderr)
        for outcome in outcomes:
            if outcome.value is not None:
                run.done(outcome.target, "not applied: a hooks file has errors", None)
        run.close()
        return EXIT_ERROR

    planned = {o.target.label: o.value for o in outcomes if o.value is not None}
    pending = [o.target for o in outcomes if o.value is not None and o.value.plan.changes]
    # The report in json or markdown owns stdout; the preview then goes to stderr.
    preview = sys.stdout if args.format == "text" else sys.stderr
    for target in pending:
        if run.multi:
            _heading(target, "text", preview)
        print(_render_plan(planned[target.label].plan, "text", preview), file=preview)
    if pending and not args.dry_run and not args.auto_approve:
        where = f" to {len(pending)} accounts" if len(pending) > 1 else ""
        if not _ask(f"Apply these changes{where}?", "--auto-approve"):
            return EXIT_ERROR

    def work(target: Target) -> ApplyReport:
        each = planned[target.label]
        return apply(
            each.plan,
            each.keap,
            each.desired,
            each.live,
            parallelism=args.parallelism,
            dry_run=args.dry_run,
            progress=_progress(target.label if run.multi else "", sys.stderr.isatty()),
        )

    applied = {
        o.target.label: o for o in accounts.run_each(pending, work, args.account_parallelism)
    }
    for outcome in outcomes:
        target, each = outcome.target, outcome.value
        if each is None:
            continue  # reported above
        result = applied.get(target.label)
        if result is not None and result.error is not None:
            run.failed(target, result.error)
            continue
        report = result.value if result is not None else None
        report = report or ApplyReport((), after=each.plan)
        if not report.ok:
            run.status = EXIT_ERROR
        document = documents.report_document(report)
        run.done(
            target, render.report_summary(report) if report.outcomes else "No changes.", document
        )
        if not run.section(target):
            continue
        if args.format == "json":
            _print_json(document)
        elif not report.outcomes:
            print(f"No changes. The account matches {target.source}.")
        elif args.format == "markdown":
            print(render.report_markdown(report))
        else:
            print(render.report_text(report, color=_color(sys.stdout)).rstrip("\n"))
    run.close()
    return run.status


def _progress(label: str, show: bool) -> Callable[[Any], None]:
    """Called after each write: stops this account's writes once Ctrl-C has stopped the run,
    and on a terminal shows what was done."""
    from hookctl.interrupts import check_interrupted

    prefix = f"{label}: " if label else ""

    def step(outcome: Any) -> None:
        check_interrupted()
        if show:
            change = outcome.change
            print(
                f"  {prefix}{outcome.result:<10} {change.action} {change.name or change.key}",
                file=sys.stderr,
            )

    return step


def cmd_hooks(args: argparse.Namespace) -> int:
    import fnmatch

    from hookctl import render
    from hookctl.models import event_glob_matches

    op = args.operation
    # Before any call: a secret that is missing fails without touching Keap.
    secret = _secret(args) if op == "verify" else None
    total = 0
    account = None
    if args.account:
        from hookctl import accounts

        documents = accounts.read_all([args.file])
        account = accounts.select(documents, args.account)[0].account
    with _client(args, account) as keap:
        result: Any
        if op == "types":
            result = keap.event_types()
        elif op == "list":
            listed = keap.list()
            result = [
                hook
                for hook in listed
                if (not args.status or hook.status == args.status)
                and (not args.event or event_glob_matches(args.event, hook.event_key))
                and (not args.url or fnmatch.fnmatchcase(hook.hook_url, args.url))
            ]
            total = len(listed)
        elif op == "get":
            result = keap.get(args.key)
        elif op == "create":
            result = keap.create(args.event_key, args.hook_url)
        elif op == "update":
            result = keap.update(args.key, args.event_key, args.hook_url)
        elif op == "delete":
            if not args.yes:
                if sys.stdin.isatty():
                    # Show what would go: the answer should be about a subscription, not a key.
                    print(render.hooks_table(keap.get(args.key)), file=sys.stderr)
                if not _ask(f"Delete subscription {args.key}?", "--yes"):
                    return EXIT_ERROR
            keap.delete(args.key)
            result = None
        else:
            result = keap.delayed_verify(args.key, secret) if secret else keap.verify(args.key)
    if op in ("create", "update", "verify") and result.status != "Verified":
        logger.warning(
            "subscription %s is %s: Keap sends it no events until its receiver answers the "
            "handshake (HTTP 200 echoing X-Hook-Secret); fix the receiver and run `hookctl "
            "hooks verify %s`, or give the secret it got: "
            "`hookctl hooks verify %s --secret-env VAR`",
            result.key,
            result.status,
            result.key,
            result.key,
        )
    if args.format == "json":
        import json

        print(json.dumps(render.hooks_json(result), indent=2))
    elif result is None:
        print(f"Deleted {args.key}.")
    elif op == "list":
        if result:
            print(render.hooks_table(result))
        print(render.hooks_count(result, total))
    elif op == "types":
        print(render.hooks_table(result, empty="No event types."))
    else:
        print(render.hooks_table(result))
    return EXIT_OK


def _secret(args: argparse.Namespace) -> str | None:
    """The X-Hook-Secret for delayed verification: from $VAR, or from stdin with `-` (asked
    for without echo on a terminal), so that it need not sit in shell history."""
    if args.secret_env:
        value = os.environ.get(args.secret_env, "").strip()
        if not value:
            raise HookctlError(f"--secret-env: ${args.secret_env} is not set")
        return value
    if args.secret == "-":
        if sys.stdin.isatty():
            import getpass

            value = getpass.getpass("X-Hook-Secret: ").strip()
        else:
            value = sys.stdin.readline().strip()
        if not value:
            raise HookctlError("--secret -: no secret on stdin")
        return value
    return str(args.secret) if args.secret else None


def _ask(question: str, flag: str) -> bool:
    if not sys.stdin.isatty():
        raise HookctlError(
            f"refusing to go on without confirmation: there is no terminal to ask on "
            f"(review first, then add {flag})"
        )
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


def cmd_sandbox(args: argparse.Namespace) -> int:
    from hookctl.sandbox import Faults, serve

    faults = Faults(
        latency=args.latency, error_rate=args.error_rate, throttle_rate=args.throttle_rate
    )
    if args.db != ":memory:":
        Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    try:
        serve(args.host, args.port, args.db, args.api_key, None, faults)
    except OSError as exc:
        raise HookctlError(f"cannot serve on {args.host}:{args.port}: {exc.strerror}") from None
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from hookctl import render
    from hookctl.config import read_text
    from hookctl.importer import to_yaml
    from hookctl.keap import DEFAULT_ACCESS_TOKEN_ENV, DEFAULT_API_KEY_ENV, credentials_from_env

    # Checked before calling Keap so that a refusal costs nothing and changes nothing.
    if args.output and os.path.exists(args.output) and not args.force:
        raise HookctlError(f"{args.output} exists; add --force to overwrite it")
    # The file names the variable this import authenticated with.
    used = credentials_from_env(os.environ)
    token = used is not None and used.env_name == DEFAULT_ACCESS_TOKEN_ENV
    target = args.output or "<stdout>"
    with _client(args, None) as keap:
        live = keap.list()
        text = to_yaml(
            live,
            api_url=keap.api_url,
            prefixes=args.prefix,
            manage_all=args.all,
            now=datetime.now(timezone.utc),
            api_key_env=DEFAULT_API_KEY_ENV,
            access_token_env=DEFAULT_ACCESS_TOKEN_ENV if token else None,
        )
        try:
            # Whatever the account holds, never hand the user a file that does not load.
            desired = read_text(text, target, env={}).desired(None, keap.event_types)
        except ConfigError as exc:
            raise HookctlError(
                f"hookctl import made a file that does not load (please report this):\n{exc}"
            ) from None
    if args.output:
        try:
            with open(args.output, "w" if args.force else "x", encoding="utf-8") as out:
                out.write(text)
        except FileExistsError:
            raise HookctlError(f"{args.output} exists; add --force to overwrite it") from None
        except OSError as exc:
            raise HookctlError(f"cannot write {args.output}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
    entries = len({sub.name for sub in desired.subscriptions})
    plan = _plan(desired, live)
    print(
        f"hookctl: {'wrote ' + args.output if args.output else 'imported'}: {entries} hooks, "
        f"{len(desired.subscriptions)} subscriptions. "
        f"A plan on it now: {render.summary_line(plan)}.",
        file=sys.stderr,
    )
    try:
        plan.check_safety()
    except HookctlError as exc:
        # Many duplicated subscriptions make many deletes of extra copies: say so now rather
        # than at the first apply.
        print(f"hookctl: note: apply will need --force: {exc}", file=sys.stderr)
    return EXIT_OK
