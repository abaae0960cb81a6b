"""The command line: parses arguments, builds the run's options, calls the runner and renders
what it returns. Heavy modules are imported inside the commands, so that `hookctl --version`
stays fast.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hookctl import __version__
from hookctl.errors import HookctlError

if TYPE_CHECKING:
    from hookctl.accounts import Target
    from hookctl.output import Progress
    from hookctl.planfile import SavedPlan
    from hookctl.runner import Options

logger = logging.getLogger("hookctl")

SANDBOX_ADMIN_HELP = """\
admin calls (not Keap's; no credentials; JSON bodies):
  GET  /_sandbox/health                  {"status": "ok"}
  GET  /_sandbox/stats                   Keap calls per route and answers per status
  POST /_sandbox/stats/reset             zero the counts
  GET|PUT /_sandbox/faults               latency, error_rate, throttle_rate, drops...
  GET|PUT /_sandbox/quota                {"limit": calls a day or null, "used": calls spent}
  GET|POST /_sandbox/hooks               list, or seed [{eventKey, hookUrl, status}]
  PUT  /_sandbox/hooks/KEY/status        {"status": "Verified"|"Unverified"|"Inactive"}
  POST /_sandbox/events                  {"event_key": ..., "object_keys": [...]}: deliver
  GET|DELETE /_sandbox/receiver-log      what the built-in receiver got
  POST /_sandbox/oauth/code              an authorization code for /token (no login page)
  POST /_sandbox/oauth/refresh-token     a refresh token, as if issued to the app earlier
  POST /_sandbox/oauth/expire            every access token issued expires now
  GET  /_sandbox/oauth                   the OAuth client id and how many refreshes were made
OAuth app: client id sandbox-client, secret sandbox-secret; access tokens live 24 h on the
sandbox's clock (86 s)."""

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
EXIT_INTERRUPTED = 130
_COLORS = ("auto", "always", "never")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"hookctl {_version()}")
        return EXIT_OK
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    _configure_logging(args.verbose)
    from hookctl import output

    output.configure(args.color, args.verbose > 0)
    try:
        return int(args.func(args))
    except HookctlError as exc:
        from hookctl.output import error

        error(exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hookctl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR


def _version() -> str:
    """The installed distribution's version; a checkout run without installing has none, and
    shows the package's own."""
    from importlib import metadata

    try:
        return metadata.version("hookctl")
    except metadata.PackageNotFoundError:
        return __version__


def build_parser() -> argparse.ArgumentParser:
    from hookctl.waits import DEFAULT_MAX_RATE, DEFAULT_MAX_WAIT

    parser = argparse.ArgumentParser(
        prog="hookctl",
        description="Infrastructure as code for Keap REST hook subscriptions.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more on stderr (-vv for debug)"
    )
    color_help = (
        "colour: auto (default) colours a terminal unless NO_COLOR is set (non-empty) or "
        "TERM=dumb, and any output when FORCE_COLOR or CLICOLOR_FORCE is set"
    )
    parser.add_argument("--color", choices=_COLORS, default="auto", help=color_help)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-url", help="Keap API base url (overrides KEAP_API_URL and hooks.yaml)"
    )
    common.add_argument("--color", choices=_COLORS, default=argparse.SUPPRESS, help=color_help)
    common.add_argument(
        "--max-wait",
        type=_seconds,
        default=DEFAULT_MAX_WAIT,
        metavar="SECONDS",
        help="the longest wait Keap may ask for (Retry-After, throttling); a longer one ends "
        f"the command, saying until when (default {DEFAULT_MAX_WAIT:g})",
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
    validate.add_argument(
        "paths",
        nargs="*",
        metavar="FILE",
        help="hooks files, as -f takes them (for pre-commit, which passes the files it matched)",
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
    handshake = "show how the url of each create, update and verify answers Keap's handshake"
    plan.add_argument("--probe", action="store_true", help=handshake)
    _safety_flags(plan)
    _target_flag(plan)
    _shard_flag(plan)
    plan.set_defaults(func=cmd_plan)

    apply = commands.add_parser(
        "apply", parents=[common, config], help="make the account match hooks.yaml"
    )
    apply.add_argument("planfile", nargs="?", help="a plan saved by `hookctl plan --out`")
    apply.add_argument(
        "--dry-run", action="store_true", help="show what would be sent, send nothing"
    )
    apply.add_argument(
        "--auto-approve",
        "--yes",
        action="store_true",
        help="do not ask for confirmation (a saved PLANFILE is never asked about: it was reviewed)",
    )
    apply.add_argument(
        "--parallelism", type=_positive_int, default=4, help="concurrent writes (default 4)"
    )
    apply.add_argument(
        "--max-rate",
        type=_positive_float,
        default=None,
        metavar="N",
        help=f"writes started a second, at most (default {DEFAULT_MAX_RATE:g}, a Service "
        "Account Key's spike limit; none against a loopback API such as the sandbox)",
    )
    apply.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    _safety_flags(apply)
    _target_flag(apply)
    _shard_flag(apply)
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
    _target_flag(drift)
    drift.add_argument(
        "--metrics-file",
        metavar="PATH",
        help="write Prometheus text format here (for node_exporter's textfile collector)",
    )
    _shard_flag(drift)
    drift.set_defaults(func=cmd_drift)

    _probe_command(commands, config, output)
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
        help="import only urls under URL (at url boundaries) and own that prefix (repeatable)",
    )
    adopt.add_argument("--all", action="store_true", help="own every subscription (all: true)")
    adopt.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    adopt.add_argument(
        "--account", metavar="NAME", help="declare the account under this name (accounts:)"
    )
    adopt.add_argument(
        "--update",
        metavar="FILE",
        help="take the account's hand-made changes into FILE, editing it in place",
    )
    adopt.add_argument(
        "--dry-run", action="store_true", help="with --update: show what would change only"
    )
    credential = adopt.add_mutually_exclusive_group()
    credential.add_argument(
        "--api-key-env", metavar="VAR", help="read the API key from $VAR and write VAR in the file"
    )
    credential.add_argument(
        "--access-token-env",
        metavar="VAR",
        help="read the OAuth access token from $VAR and write VAR in the file",
    )
    adopt.set_defaults(func=cmd_import)

    fmt = commands.add_parser(
        "fmt", parents=[common], help="rewrite hooks files in the canonical layout"
    )
    fmt.add_argument(
        "-f",
        "--file",
        action="append",
        metavar="PATH",
        help="a hooks file, or a directory of them (repeatable; default: hooks.yaml)",
    )
    fmt.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and list the files that are not in the canonical layout",
    )
    fmt.set_defaults(func=cmd_fmt)

    schema = commands.add_parser(
        "schema", help="print a JSON Schema (hooks.yaml's, or a JSON document's)"
    )
    schema.add_argument(
        "name",
        nargs="?",
        default="hooks",
        choices=SCHEMA_NAMES,
        help="hooks (hooks.yaml, the default), plan, drift, accounts or report",
    )
    schema.set_defaults(func=cmd_schema)

    _auth_command(commands)
    sandbox = commands.add_parser(
        "sandbox",
        help="run the local Keap-compatible sandbox",
        description="A Keap-compatible hooks API on loopback, at /crm/rest/v1, with Keap's "
        "token endpoint at /token and a receiver at /receiver. It accepts X-Keap-API-Key, "
        "Authorization: Bearer and ?access_token=.",
        epilog=SANDBOX_ADMIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8787)
    sandbox.add_argument("--db", default=":memory:", help="SQLite file (default: in memory)")
    sandbox.add_argument(
        "--api-key",
        default=os.environ.get("KEAP_API_KEY", "sandbox-key"),
        help="the X-Keap-API-Key it accepts (default: $KEAP_API_KEY or 'sandbox-key')",
    )
    sandbox.add_argument(
        "--access-token",
        default=os.environ.get("KEAP_ACCESS_TOKEN"),
        help="an OAuth2 access token it accepts as Bearer or ?access_token=, besides those its "
        "/token issues (default: $KEAP_ACCESS_TOKEN)",
    )
    sandbox.add_argument("--latency", type=float, default=0.0, help="seconds added to each call")
    sandbox.add_argument(
        "--error-rate", type=float, default=0.0, help="share of calls answered 500"
    )
    sandbox.add_argument(
        "--throttle-rate", type=float, default=None, help="calls a second before answering 429"
    )
    sandbox.add_argument(
        "--daily-quota",
        type=_non_negative_int,
        default=30000,
        metavar="N",
        help="calls a UTC day before 429 Quota Exceeded, as x-keap-product-quota-* headers say "
        "(default 30000, a Service Account Key's; 0 answers 429 at once)",
    )
    sandbox.add_argument(
        "--handshake-timeout",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="seconds the handshake and each delivery may take (default 10)",
    )
    sandbox.add_argument(
        "--allow-outbound",
        action="store_true",
        help="make handshakes and deliveries to hookUrls on other hosts too (default: loopback "
        "only; other hookUrls stay Unverified)",
    )
    sandbox.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="log more (-vv: every call)",
    )
    sandbox.set_defaults(func=cmd_sandbox)
    return parser


def _auth_command(commands: Any) -> None:
    auth = commands.add_parser(
        "auth",
        help="which credential is in use; renew or get OAuth tokens",
        description="Credentials, in this order: $KEAP_API_KEY, $KEAP_ACCESS_TOKEN, then an "
        "OAuth app ($KEAP_CLIENT_ID, $KEAP_CLIENT_SECRET, and $KEAP_REFRESH_TOKEN or the "
        "token file $KEAP_TOKEN_FILE). No command ever shows a secret's value.",
    )
    operations = auth.add_subparsers(dest="auth_operation", metavar="OPERATION", required=True)
    operations.add_parser("status", help="the credential in use and when its tokens expire")
    operations.add_parser("refresh", help="renew the OAuth access token now")
    login = operations.add_parser(
        "login",
        help="authorize the OAuth app: prints the url to open, then keeps the tokens",
        description="Prints Keap's authorize url (nothing opens a browser). Open it, allow "
        "the app, and Keap redirects to --redirect-uri: on a loopback uri hookctl catches the "
        "redirect itself; otherwise pass the code from the redirect with --code.",
    )
    login.add_argument(
        "--redirect-uri",
        default="http://127.0.0.1:8976/callback",
        help="the redirect uri registered for the app (default http://127.0.0.1:8976/callback)",
    )
    login.add_argument("--code", help="the code from the redirect, pasted (skips the listening)")
    login.add_argument(
        "--timeout",
        type=_positive_float,
        default=300.0,
        metavar="S",
        help="seconds to wait for the redirect (default 300)",
    )
    auth.set_defaults(func=cmd_auth)


def _probe_command(commands: Any, *parents: argparse.ArgumentParser) -> None:
    # The defaults are hookctl.probe's, applied by cmd_probe: importing it here would slow
    # every command's start (http.client and ssl).
    probe = commands.add_parser(
        "probe", parents=parents, help="run Keap's handshake with every declared url, from here"
    )
    entries = "only the hooks.yaml entries of this name (a glob: * ? [...]); repeatable"
    probe.add_argument("--target", action="append", default=[], metavar="NAME", help=entries)
    seconds, at_once = "seconds per url (default 10)", "urls at once (default 20)"
    probe.add_argument("--timeout", type=_positive_float, metavar="S", help=seconds)
    probe.add_argument("--concurrency", type=_positive_int, metavar="N", help=at_once)
    probe.set_defaults(func=cmd_probe, api_url=None)


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
    get = op("get", "one subscription")
    get.add_argument("key")
    for shows in (listing, get):
        reveal = "show hook urls unmasked (query values and userinfo often hold a token)"
        shows.add_argument("--reveal", action="store_true", help=reveal)
    create = op("create", "subscribe a url to an event (Keap runs the handshake)")
    create.add_argument("event_key")
    create.add_argument("hook_url")
    update = op("update", "point a subscription at another event or url")
    update.add_argument("key")
    update.add_argument("event_key")
    update.add_argument("hook_url")
    delete = op("delete", "delete a subscription")
    delete.add_argument("key")
    delete.add_argument(
        "--yes", "--auto-approve", action="store_true", help="do not ask for confirmation"
    )
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


def _target_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME",
        help=(
            "only the hooks.yaml entries of this name (shell globs; repeatable). Deletes of "
            "managed subscriptions that no entry declares are left out, like other entries' "
            "changes; the safety thresholds count only what is targeted"
        ),
    )


def _shard_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="only the accounts of shard I of N (I from 0), split by name: run each of "
        "0/N .. N-1/N to cover every account once",
    )


def _shard(text: str) -> tuple[int, int]:
    from hookctl.accounts import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not 0 <= value < 1e9:  # NaN and inf too
        raise argparse.ArgumentTypeError("must be from 0 to 999999999 seconds")
    return value


def _positive_float(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be a number above 0")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _secret_hint(secret: str) -> str:
    """A secret as the sandbox's start shows it: its length and a digest, never a character."""
    digest = hashlib.sha256(secret.encode()).hexdigest()[:6]
    return f"***({digest}, {len(secret)} characters)"


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    from hookctl.output import LogFormatter

    handler.setFormatter(LogFormatter("hookctl: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if verbosity < 3:
        # urllib3's debug lines add nothing we do not log ourselves.
        logging.getLogger("urllib3").setLevel(max(level, logging.INFO))


# -- wiring ------------------------------------------------------------------------------------


def _options(args: argparse.Namespace, *flags: str) -> Options:
    """The run's options: the url that overrides every account's own, and the flags of
    Options that this command has, named in `flags`."""
    from hookctl.runner import Options

    return Options(
        api_url=args.api_url or os.environ.get("KEAP_API_URL") or None,
        targets=tuple(getattr(args, "target", None) or ()),
        max_wait=getattr(args, "max_wait", Options.max_wait),
        max_rate=getattr(args, "max_rate", Options.max_rate),
        **{flag: getattr(args, flag) for flag in flags},
    )


def _targets(
    args: argparse.Namespace, options: Options, saved: SavedPlan | None = None
) -> list[Target]:
    """The accounts that `-f` and `--account` (or the saved plan) name. With several, log lines
    name their account."""
    from hookctl import output, runner

    targets = runner.targets(args.file, args.account, options, saved)
    shard = getattr(args, "shard", None)
    if shard is not None:
        if saved is not None:
            raise HookctlError("--shard splits the accounts of hooks files, not a saved plan")
        from hookctl.accounts import in_shard

        targets = in_shard(targets, *shard)
        if not targets:
            logger.warning("shard %d/%d has none of the accounts", *shard)
    if len(targets) > 1:
        output.label_log_lines()
    return targets


# -- commands ----------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from hookctl import output, runner

    options = _options(args, "account_parallelism", "offline")
    # pre-commit passes the files it matched after the flags.
    args.file = [*(args.file or ()), *args.paths] or None
    targets = _targets(args, options)
    shown: set[str] = set()
    status = EXIT_OK
    for outcome in runner.validate(targets, options):
        if outcome.error is not None:
            status = EXIT_ERROR
            output.error(outcome.error, outcome.target if len(targets) > 1 else None, shown)
        elif outcome.value is not None:
            output.valid(outcome.target, outcome.value)
    return status


def cmd_plan(args: argparse.Namespace) -> int:
    from hookctl import output, runner

    options = _options(args, "account_parallelism", "force", "allow_empty", "probe")
    targets = _targets(args, options)
    if args.out and len(targets) > 1:
        raise HookctlError(
            f"--out saves the plan of one account, and this run covers {len(targets)} "
            f"({', '.join(t.label for t in targets)}): choose one with --account NAME "
            "(and one -f FILE)"
        )
    run = output.Run("plan", args.format, targets)
    changes = False
    for target, planned in run.each(runner.plan(targets, options)):
        changes = changes or planned.plan.has_changes
        if run.plan(target, planned.plan, planned.refusal, planned.probes) and args.out:
            runner.save(args.out, target, planned)
            logger.warning("plan saved to %s; apply it with: hookctl apply %s", args.out, args.out)
    run.close()
    if run.ok and args.detailed_exitcode and changes:
        return EXIT_CHANGES
    return EXIT_OK if run.ok else EXIT_ERROR


def cmd_probe(args: argparse.Namespace) -> int:
    """Keap's handshake with every owned url the files declare, from here. Reads only the
    hooks files (event types from the built-in list, as validate --offline): no credentials,
    no call to Keap."""
    from hookctl import output, probe

    targets = _targets(args, _options(args))
    states = [(target.label, target.desired()) for target in targets]
    declared = probe.declared(states, args.target)
    found = probe.probe_all(
        [url.url for url in declared],
        timeout=args.timeout or probe.DEFAULT_TIMEOUT,
        concurrency=args.concurrency or probe.DEFAULT_CONCURRENCY,
    )
    output.probe_report(declared, found, args.format, len(targets) > 1)
    return EXIT_OK if all(each.ok for each in found.values()) else EXIT_ERROR


def cmd_drift(args: argparse.Namespace) -> int:
    from hookctl import documents, metrics, notify, output, runner

    options = _options(args, "account_parallelism")
    targets = _targets(args, options)
    notify_url = args.notify
    if notify_url:
        try:
            notify.check(notify_url)
        except HookctlError as exc:
            # Said now, drift or not, so that a scheduled job shows it before it matters; the
            # check itself goes on, and its exit status is the drift's.
            output.error(exc)
            notify_url = None
    if args.metrics_file:
        # Before any call: a path that cannot be written is found at once, not after a check.
        metrics.check_path(args.metrics_file)
    run = output.Run("drift", args.format, targets)
    drifted = False
    outcomes = runner.drift(targets, options)
    for target, planned in run.each(outcomes):
        plan = planned.plan
        report = documents.drift_document(
            plan,
            account=target.account.name,
            api_url=planned.api_url,
            source=target.source,
            env=os.environ,
        )
        run.drift(target, plan, report)
        drifted = drifted or plan.has_changes
        if notify_url and plan.has_changes:
            try:
                notify.post(notify_url, report)
            except HookctlError as exc:
                # The drift itself is the news; a failed notification must not hide its exit code.
                output.error(exc, target if run.multi else None)
    run.close()
    if args.metrics_file:
        metrics.write_drift(args.metrics_file, outcomes)
    if not run.ok:
        return EXIT_ERROR
    return EXIT_CHANGES if drifted else EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    from hookctl import output, planfile, runner

    flags = ("account_parallelism", "parallelism", "force", "allow_empty", "dry_run")
    options = _options(args, *flags)
    saved = planfile.read(args.planfile) if args.planfile else None
    # A saved plan is applied with the --target patterns it was made with.
    options = runner.with_saved_targets(options, saved)
    targets = _targets(args, options, saved)
    with runner.prepare(targets, options, saved) as prepared:
        run = output.Run("apply", args.format, targets)
        # Accounts that could not be planned are reported before anything is asked or sent.
        ready = list(run.each(prepared.outcomes))
        if prepared.blocked:
            run.not_applied([target for target, _ in ready])
            return EXIT_ERROR
        pending = prepared.pending
        plans = [(target, each.plan) for target, each in pending]
        output.preview(plans, args.format, run.multi)
        # A saved plan is the approval, as in Terraform: it was reviewed, and apply goes on only
        # if the plan it makes now is exactly the saved one (checked by prepare).
        if pending and not args.dry_run and not args.auto_approve and saved is None:
            where = f" to {len(pending)} accounts" if len(pending) > 1 else ""
            if not output.ask(f"Apply these changes{where}?", "--auto-approve"):
                return EXIT_ERROR
        board = output.Progress(plans, tty=sys.stderr.isatty(), multi=run.multi)

        def progress(target: Target) -> runner.Progress:
            return _progress(target.label if run.multi else "", board)

        try:
            applied = runner.execute(prepared, options, progress)
        except KeyboardInterrupt:
            board.interrupted()
            return EXIT_INTERRUPTED
        board.finish()
        for target, report in run.each(applied):
            run.report(target, report)
    run.close()
    return EXIT_OK if run.ok else EXIT_ERROR


def _progress(label: str, board: Progress) -> Callable[[Any], None]:
    """What runs after each write of the account `label` (here so that tests can swap it)."""
    return board.step(label)


def cmd_hooks(args: argparse.Namespace) -> int:
    from hookctl import output, render, runner
    from hookctl.operations import Request, perform

    op = args.operation
    # Before any call: a secret that is missing fails without touching Keap.
    secret = output.hook_secret(args.secret, args.secret_env) if op == "verify" else None
    named = ("key", "event_key", "hook_url", "status", "event", "url")
    request = Request(op, secret=secret, **{name: getattr(args, name, None) for name in named})
    account = runner.account_in(args.file, args.account) if args.account else None
    with runner.client(_options(args), account) as keap:
        if op == "delete" and not args.yes:
            # Show what would go: the answer should be about a subscription, not a key.
            question = f"Delete subscription {args.key}?"
            if not output.ask(question, "--yes", lambda: render.hooks_table(keap.get(args.key))):
                return EXIT_ERROR
        answer = perform(keap, request)
    reveal = getattr(args, "reveal", False)
    output.hooks_result(request, answer.result, args.format, total=answer.total, reveal=reveal)
    return EXIT_OK


def cmd_auth(args: argparse.Namespace) -> int:
    import secrets as random_secrets

    from hookctl import oauth
    from hookctl.auth import credentials_from_env, missing_hint

    env = os.environ
    if args.auth_operation == "login":
        names = oauth.OAuthEnv()
        client_id, secret = env.get(names.client_id_env), env.get(names.client_secret_env)
        if not client_id or not secret:
            raise HookctlError(f"set ${names.client_id_env} and ${names.client_secret_env} first")
        token_file = Path(env.get(names.token_file_env) or oauth.default_token_file(env))
        token_url = env.get(oauth.TOKEN_URL_ENV) or oauth.DEFAULT_TOKEN_URL
        app = oauth.OAuthAuth(client_id, secret, token_file, token_url)
        code = args.code
        if not code:
            state = random_secrets.token_urlsafe(16)
            print("Open this url, sign in and allow the app:", flush=True)
            print(oauth.authorize_url(env, client_id, args.redirect_uri, state), flush=True)
            code = oauth.catch_redirect(args.redirect_uri, state, args.timeout)
        tokens = app.exchange(code.strip(), args.redirect_uri)
        print(
            f"Authorized: tokens kept in {token_file} (access token valid until "
            f"{oauth.expiry_text(tokens)})"
        )
        return EXIT_OK
    credential = credentials_from_env(env)
    if credential is None:
        raise HookctlError(f"no credentials: {missing_hint()}")
    if not isinstance(credential, oauth.OAuthAuth):
        if args.auth_operation == "refresh":
            raise HookctlError(f"{credential!r} is not an OAuth app's: there is nothing to refresh")
        kind = (
            "X-Keap-API-Key, no expiry"
            if credential.header != "Authorization"
            else ("Bearer access token; hookctl cannot renew it")
        )
        print(f"credential: ${credential.env_name} ({kind})")
        return EXIT_OK
    if args.auth_operation == "refresh":
        tokens = credential.renew()
        print(
            f"Refreshed: access token valid until {oauth.expiry_text(tokens)}; the new "
            f"refresh token is kept in {credential.token_file}"
        )
        return EXIT_OK
    kept = credential.kept()
    print(f"credential: OAuth app ${credential.names.client_id_env}")
    print(f"token file: {credential.token_file}")
    if kept is None:
        print(
            f"tokens:     none kept yet; the first call refreshes with "
            f"${credential.names.refresh_token_env}"
        )
    else:
        state = "valid" if kept.fresh(time.time()) else "to be renewed at the next call"
        print(f"access:     {state}, expires {oauth.expiry_text(kept)}")
        print("refresh:    kept in the token file (good for one refresh)")
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace) -> int:
    from hookctl.auth import clean_secret
    from hookctl.sandbox import Faults, Sandbox, serve

    faults = Faults(
        latency=args.latency, error_rate=args.error_rate, throttle_rate=args.throttle_rate
    )
    if args.db != ":memory:":
        Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    api_key = clean_secret(args.api_key, "--api-key") if args.api_key else None
    token = clean_secret(args.access_token, "--access-token") if args.access_token else None

    def announce(sandbox: Sandbox) -> None:
        credentials = [f"X-Keap-API-Key {_secret_hint(api_key)}"] if api_key else []
        if token:
            credentials.append(f"access token {_secret_hint(token)}")
        print(f"hookctl sandbox: API       {sandbox.api_url}", flush=True)
        print(f"hookctl sandbox: receiver  {sandbox.receiver_url}", flush=True)
        print(f"hookctl sandbox: token url {sandbox.url}/token", flush=True)
        print(f"hookctl sandbox: accepts   {', '.join(credentials)}", flush=True)
        print("hookctl sandbox: admin calls under /_sandbox (hookctl sandbox --help)", flush=True)

    try:
        serve(
            args.host,
            args.port,
            args.db,
            api_key,
            token,
            faults,
            handshake_timeout=args.handshake_timeout,
            allow_outbound=args.allow_outbound,
            daily_quota=args.daily_quota,
            announce=announce,
        )
    except OSError as exc:
        raise HookctlError(f"cannot serve on {args.host}:{args.port}: {exc.strerror}") from None
    return EXIT_OK


def cmd_fmt(args: argparse.Namespace) -> int:
    from hookctl import accounts, fmt, output
    from hookctl.runner import DEFAULT_FILES

    paths = accounts.hooks_files(args.file or DEFAULT_FILES)
    # Every file is formatted in memory before any is written: one that cannot be leaves all
    # of them as they were.
    results = [fmt.format_file(path) for path in paths]
    if not args.check:
        fmt.write(results)
    output.formatted(results, args.check)
    return EXIT_ERROR if args.check and any(r.changed for r in results) else EXIT_OK


def _import_update(args: argparse.Namespace) -> int:
    from hookctl import accounts, output, runner
    from hookctl.files import write_atomically
    from hookctl.fmt import read_text
    from hookctl.update import update

    if args.output or args.prefix or args.all or args.account or args.force:
        raise HookctlError(
            "--update FILE edits FILE in place with its own account and ownership: leave out "
            "-o, --prefix, --all, --account and --force"
        )
    (document,) = accounts.read_all([args.update])
    if len(document.accounts) != 1:
        raise HookctlError(f"{args.update}: --update takes a file with a single account")
    original = read_text(args.update)
    with runner.client(_options(args), document.accounts[0]) as keap:
        updated = update(keap, args.update, original)
    if updated.changed and not args.dry_run:
        write_atomically(args.update, updated.text, what="the hooks file")
    output.updated(updated, args.dry_run)
    return EXIT_OK


SCHEMA_NAMES = ("hooks", "plan", "drift", "accounts", "report")


def cmd_schema(args: argparse.Namespace) -> int:
    from hookctl.models import schema_text

    sys.stdout.write(schema_text(f"{args.name}.schema.json"))
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from hookctl import output, runner
    from hookctl.operations import adopt

    if args.update:
        return _import_update(args)
    if args.dry_run:
        raise HookctlError("--dry-run goes with --update FILE")
    # Checked before calling Keap so that a refusal costs nothing and changes nothing.
    if args.output and os.path.exists(args.output) and not args.force:
        raise HookctlError(f"{args.output} exists; add --force to overwrite it")
    from hookctl.models import Account

    account = Account(
        name=args.account or "default",
        api_key_env=args.api_key_env,
        access_token_env=args.access_token_env,
    )
    with runner.client(_options(args), account) as keap:
        source = args.output or "<stdout>"
        imported = adopt(
            keap, source=source, prefixes=args.prefix, manage_all=args.all, account=account
        )
    output.hooks_file(imported, args.output, overwrite=args.force)
    return EXIT_OK
