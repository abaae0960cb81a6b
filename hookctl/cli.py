"""The command line: parses arguments, wires loader, client, planner and applier together, and
decides what the user sees. Heavy modules are imported inside the commands, so that
`hookctl --version` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hookctl import __version__
from hookctl.errors import HookctlError

if TYPE_CHECKING:
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
        "-f", "--file", default="hooks.yaml", help="the desired state (default: hooks.yaml)"
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


def _client(args: argparse.Namespace, account: Account | None, pool_size: int = 8) -> Keap:
    from hookctl.keap import Keap

    api_url = args.api_url or os.environ.get("KEAP_API_URL") or (account and account.api_url)
    return Keap(
        api_url or None,
        api_key_env=account.api_key_env if account else None,
        access_token_env=account.access_token_env if account else None,
        pool_size=pool_size,
    )


def _load(path: str, event_types: Any = None) -> DesiredState:
    from hookctl.config import load

    return load(path, event_types=event_types)


def _load_with_account(args: argparse.Namespace, pool_size: int = 8) -> tuple[DesiredState, Keap]:
    """Load hooks.yaml, checking event keys against the account only when the file needs it."""
    from hookctl.config import account_settings

    keap = _client(args, account_settings(args.file), pool_size)
    return _load(args.file, event_types=keap.event_types), keap


def _plan(desired: DesiredState, live: Sequence[Hook]) -> Plan:
    from hookctl.planner import plan

    return plan(desired, live)


def _render_plan(plan: Plan, fmt: Any, stream: Any = None) -> str:
    """The plan as it is to be written to `stream` (stdout by default), coloured if a terminal."""
    from hookctl import render

    return render.render_plan(plan, fmt, color=_color(stream or sys.stdout)).rstrip("\n")


# -- commands ----------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    if args.offline:
        desired = _load(args.file)
    else:
        desired, keap = _load_with_account(args)
        keap.close()
    hooks = {sub.name for sub in desired.subscriptions}
    print(f"{args.file}: valid ({len(desired.subscriptions)} subscriptions in {len(hooks)} hooks)")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    desired, keap = _load_with_account(args)
    with keap:
        live = keap.list()
    plan = _plan(desired, live)
    print(_render_plan(plan, args.format))
    _step_summary(plan, "hookctl plan")
    plan.check_safety(force=args.force, allow_empty=args.allow_empty)
    if args.out:
        from hookctl import planfile

        planfile.write(
            args.out,
            plan,
            config_digest=desired.digest,
            live_fingerprint=planfile.fingerprint(live),
            source=args.file,
            api_url=keap.api_url,
        )
        logger.warning("plan saved to %s; apply it with: hookctl apply %s", args.out, args.out)
    if args.detailed_exitcode and plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def cmd_drift(args: argparse.Namespace) -> int:
    desired, keap = _load_with_account(args)
    with keap:
        live = keap.list()
    plan = _plan(desired, live)
    from hookctl import notify

    report = notify.drift_report(
        plan,
        account=desired.account.name,
        api_url=keap.api_url,
        source=args.file,
        env=os.environ,
    )
    if args.format == "json":
        import json

        print(json.dumps(report, indent=2))
    else:
        print(_render_plan(plan, args.format))
    _step_summary(plan, "hookctl drift")
    if args.notify and plan.has_changes:
        try:
            notify.post(args.notify, report)
        except HookctlError as exc:
            # The drift itself is the news; a failed notification must not hide its exit code.
            print(f"hookctl: error: {exc}", file=sys.stderr)
    return EXIT_CHANGES if plan.has_changes else EXIT_OK


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
    from hookctl.applier import apply

    saved = planfile.read(args.planfile) if args.planfile else None
    if saved is not None:
        args.file = saved.source if args.file == "hooks.yaml" else args.file
    desired, keap = _load_with_account(args, pool_size=args.parallelism)
    with keap:
        live = keap.list()
        if saved is not None:
            planfile.ensure_fresh(saved, desired.digest, live, api_url=keap.api_url)
            plan = saved.plan
        else:
            plan = _plan(desired, live)
        plan.check_safety(force=args.force, allow_empty=args.allow_empty)
        if not plan.changes:
            if args.format == "json":
                import json

                from hookctl import render
                from hookctl.applier import ApplyReport

                print(json.dumps(render.report_json(ApplyReport((), after=plan)), indent=2))
            else:
                print("No changes. The account matches " + args.file + ".")
            return EXIT_OK
        # The report in json or markdown owns stdout; the preview then goes to stderr.
        preview = sys.stdout if args.format == "text" else sys.stderr
        print(_render_plan(plan, "text", preview), file=preview)
        if (
            not args.dry_run
            and not args.auto_approve
            and not _ask("Apply these changes?", "--auto-approve")
        ):
            return EXIT_ERROR
        report = apply(
            plan,
            keap,
            desired,
            live,
            parallelism=args.parallelism,
            dry_run=args.dry_run,
            progress=_progress if sys.stderr.isatty() else None,
        )
    from hookctl import render

    if args.format == "json":
        import json

        print(json.dumps(render.report_json(report), indent=2))
    elif args.format == "markdown":
        print(render.report_markdown(report))
    else:
        print(render.report_text(report, color=_color(sys.stdout)).rstrip("\n"))
    return EXIT_OK if report.ok else EXIT_ERROR


def _progress(outcome: Any) -> None:
    change = outcome.change
    print(f"  {outcome.result:<10} {change.action} {change.name or change.key}", file=sys.stderr)


def cmd_hooks(args: argparse.Namespace) -> int:
    import fnmatch

    from hookctl import render

    op = args.operation
    # Before any call: a secret that is missing fails without touching Keap.
    secret = _secret(args) if op == "verify" else None
    total = 0
    with _client(args, None) as keap:
        result: Any
        if op == "types":
            result = keap.event_types()
        elif op == "list":
            listed = keap.list()
            result = [
                hook
                for hook in listed
                if (not args.status or hook.status == args.status)
                and (not args.event or fnmatch.fnmatchcase(hook.event_key, args.event))
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
    from hookctl.config import parse
    from hookctl.errors import ConfigError
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
            desired = parse(text, target, keap.event_types, env={})
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
    print(
        f"hookctl: {'wrote ' + args.output if args.output else 'imported'}: {entries} hooks, "
        f"{len(desired.subscriptions)} subscriptions. "
        f"A plan on it now: {render.summary_line(_plan(desired, live))}.",
        file=sys.stderr,
    )
    return EXIT_OK
