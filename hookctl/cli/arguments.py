"""The command line's arguments: every command, flag and help text, and the checks that turn
a flag's text into a value (argparse's `type=`). Each command names its handler
(`handler=`), run by hookctl.cli.commands; nothing here imports more than argparse needs, so that
`hookctl --version` stays fast."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

from hookctl.version import __version__

_COLORS = ("auto", "always", "never")
SCHEMA_NAMES = (
    "hooks",
    "plan",
    "drift",
    "accounts",
    "report",
    "saved-plans",
    "account-list",
    "fixture",
)

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
  POST /_sandbox/trigger                 {"event_key", "objects": [{fields}], "shape", "wait"}:
                                         make the change behind the event and deliver it
  GET  /_sandbox/deliveries              the delivery log (?after=ID&limit=N&wait_ms=MS)
  POST /_sandbox/deliveries/ID/resend    one attempt now with a logged delivery's body
  GET|PUT /_sandbox/clock                {"time_scale": 0.001}: Keap's delays times this
  GET|DELETE /_sandbox/receiver-log      what the built-in receiver got
  POST /_sandbox/oauth/code              an authorization code for /token (no login page)
  POST /_sandbox/oauth/refresh-token     a refresh token, as if issued to the app earlier
  POST /_sandbox/oauth/expire            every access token issued expires now
  GET  /_sandbox/oauth                   the OAuth client id and how many refreshes were made
OAuth app: client id sandbox-client, secret sandbox-secret; access tokens live 24 h on the
sandbox's clock (86 s)."""


def version() -> str:
    """The installed distribution's version; a checkout run without installing has none, and
    shows the package's own."""
    from importlib import metadata

    try:
        return metadata.version("hookctl")
    except metadata.PackageNotFoundError:
        return __version__


# A command line hookctl cannot read: EX_USAGE of sysexits.h, since 2 means "changes found".
EXIT_USAGE = 64
_EXIT_STATUSES = """\
exit status:
  0    success (no changes)
  1    error or refusal
  2    changes found (plan --detailed-exitcode, drift)
  64   a command line hookctl cannot read
  130  interrupted"""


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors ending in EXIT_USAGE instead of argparse's 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


_COLOR_HELP = (
    "colour: auto (default) colours a terminal unless NO_COLOR is set (non-empty) or "
    "TERM=dumb, and any output when FORCE_COLOR or CLICOLOR_FORCE is set"
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the top-level flags, then each command in the order `--help`
    lists them. Flags several commands share come from the parent parsers of `_Shared`."""
    parser = Parser(
        prog="hookctl",
        description="Infrastructure as code for Keap REST hook subscriptions.",
        epilog=_EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more on stderr (-vv for debug)"
    )
    parser.add_argument("--color", choices=_COLORS, default="auto", help=_COLOR_HELP)
    shared = _Shared(_common_flags(), _config_flags(), _output_flags(), _page_flags())
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _validate_command(commands, shared)
    _accounts_command(commands, shared)
    _plan_command(commands, shared)
    _apply_command(commands, shared)
    _drift_command(commands, shared)
    _probe_command(commands, shared.config, shared.output)
    _hooks_commands(commands, shared.common)
    _import_command(commands, shared)
    _fmt_command(commands, shared)
    _schema_command(commands)
    _auth_command(commands)
    _sandbox_command(commands)
    _trigger_command(commands, shared.common)
    _deliveries_command(commands, shared.common)
    return parser


@dataclass(frozen=True)
class _Shared:
    """The parent parsers whose flags several commands take."""

    # --api-url, --color, --max-wait and -v after the command: every command that calls Keap.
    common: argparse.ArgumentParser
    # -f, --account, --account-parallelism: the commands that read hooks files.
    config: argparse.ArgumentParser
    # --format text|markdown|json: probe.
    output: argparse.ArgumentParser
    # --format text|markdown|json|html and -o: plan and drift, which also write the fleet
    # health page.
    page: argparse.ArgumentParser


def _common_flags() -> argparse.ArgumentParser:
    from hookctl.keap.waits import DEFAULT_MAX_WAIT

    common = Parser(add_help=False)
    common.add_argument(
        "--api-url", help="Keap API base url (overrides KEAP_API_URL and hooks.yaml)"
    )
    common.add_argument("--color", choices=_COLORS, default=argparse.SUPPRESS, help=_COLOR_HELP)
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
    return common


def _config_flags() -> argparse.ArgumentParser:
    from hookctl.keap.waits import DEFAULT_ACCOUNT_PARALLELISM

    config = Parser(add_help=False)
    _file_flag(
        config,
        "a hooks file, a directory (searched for *.yaml and *.yml below it) or a glob such as "
        "'envs/*/hooks.yaml' or 'clients/**'; repeatable (default: hooks.yaml)",
    )
    config.add_argument(
        "--account",
        metavar="NAME",
        help="only this account of the files' accounts (default: every account)",
    )
    config.add_argument(
        "--account-parallelism",
        type=_positive_int,
        default=DEFAULT_ACCOUNT_PARALLELISM,
        metavar="N",
        help="accounts worked on at once, each with its own client and rate budget (accounts "
        f"of one OAuth app share the app's) (default {DEFAULT_ACCOUNT_PARALLELISM})",
    )
    config.add_argument(
        "--app-share",
        type=_positive_int,
        default=1,
        metavar="N",
        help="this run is one of N using one OAuth app at once (the jobs of a CI matrix, "
        "max-parallel N): it starts at most 1/N of the app's calls a minute (default 1)",
    )
    return config


def _output_flags() -> argparse.ArgumentParser:
    output = Parser(add_help=False)
    _format_flag(output)
    return output


def _page_flags() -> argparse.ArgumentParser:
    # plan and drift can also write the fleet health page; -o means what it means for
    # `import`: the file written instead of stdout.
    page = Parser(add_help=False)
    page.add_argument(
        "--format",
        choices=("text", "markdown", "json", "html"),
        default="text",
        help="html: one self-contained page, a row per account (write it with -o FILE)",
    )
    page.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="with --format html: write the page here (default: stdout)",
    )
    return page


def _validate_command(commands: Any, shared: _Shared) -> None:
    validate = commands.add_parser(
        "validate",
        parents=[shared.common, shared.config],
        help="check hooks.yaml without writing anything",
    )
    validate.add_argument(
        "--offline",
        action="store_true",
        help="check event keys against the built-in list instead of the account",
    )
    _files_argument(validate)
    validate.set_defaults(handler="validate")


def _accounts_command(commands: Any, shared: _Shared) -> None:
    accounts = commands.add_parser(
        "accounts",
        parents=[shared.common, shared.config],
        help="list the accounts of the hooks files (name, file, API url, credential variables), "
        "for a CI matrix; reads the files only",
    )
    accounts.add_argument("--format", choices=("text", "json"), default="text")
    _shard_flag(accounts)
    accounts.set_defaults(handler="accounts")


def _plan_command(commands: Any, shared: _Shared) -> None:
    plan = commands.add_parser(
        "plan",
        parents=[shared.common, shared.config, shared.page],
        help="show what apply would change",
    )
    plan.add_argument("--out", metavar="PLANFILE", help="save the plan for `hookctl apply`")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when there are changes (0 none, 1 error)",
    )
    handshake = "show how the url of each create, update and verify answers Keap's handshake"
    plan.add_argument("--probe", action="store_true", help=handshake)
    plan.add_argument("--allow-private", action="store_true", help=_ALLOW_PRIVATE)
    _safety_flags(plan)
    _target_flag(plan)
    _shard_flag(plan)
    plan.set_defaults(handler="plan")


def _apply_command(commands: Any, shared: _Shared) -> None:
    from hookctl.keap.waits import DEFAULT_MAX_RATE

    apply = commands.add_parser(
        "apply", parents=[shared.common, shared.config], help="make the account match hooks.yaml"
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
    # Here, not from shared.output: apply lists it after its own flags.
    _format_flag(apply)
    _safety_flags(apply)
    _target_flag(apply)
    _shard_flag(apply)
    apply.set_defaults(handler="apply")


def _drift_command(commands: Any, shared: _Shared) -> None:
    drift = commands.add_parser(
        "drift",
        parents=[shared.common, shared.config, shared.page],
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
    drift.set_defaults(handler="drift")


def _import_command(commands: Any, shared: _Shared) -> None:
    adopt = commands.add_parser(
        "import", parents=[shared.common], help="write a hooks.yaml from the live account"
    )
    adopt.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    adopt.add_argument(
        "--prefix",
        action="append",
        default=[],
        metavar="URL",
        help="import only urls under URL (at url boundaries) and own that prefix (repeatable)",
    )
    adopt.add_argument(
        "--all",
        action="store_true",
        help="own every subscription (all: true), integration platforms' (Zapier, Make, ...) "
        "too; without it those go to ownership.ignore",
    )
    adopt.add_argument(
        "--schema",
        metavar="URL",
        help="where the file's editor modeline points for hooks.schema.json (default: a "
        "schemas/ copy beside or above FILE, else this version's file on GitHub)",
    )
    adopt.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    adopt.add_argument(
        "--account", metavar="NAME", help="declare the account under this name (accounts:)"
    )
    adopt.add_argument(
        "--update",
        metavar="PATH",
        help="take the account's hand-made changes into a hooks file, editing it in place "
        "(a file; or a directory or glob with --account NAME)",
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
    adopt.set_defaults(handler="import")


def _fmt_command(commands: Any, shared: _Shared) -> None:
    fmt = commands.add_parser(
        "fmt", parents=[shared.common], help="rewrite hooks files in the canonical layout"
    )
    _file_flag(fmt, "a hooks file, or a directory of them (repeatable; default: hooks.yaml)")
    fmt.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and list the files that are not in the canonical layout",
    )
    _files_argument(fmt)
    fmt.set_defaults(handler="fmt")


def _schema_command(commands: Any) -> None:
    schema = commands.add_parser(
        "schema", help="print a JSON Schema (hooks.yaml's, or a JSON document's)"
    )
    schema.add_argument(
        "name",
        nargs="?",
        default="hooks",
        choices=SCHEMA_NAMES,
        help="hooks (hooks.yaml, the default), plan, drift, accounts, report or fixture",
    )
    schema.set_defaults(handler="schema")


def _sandbox_command(commands: Any) -> None:
    sandbox = commands.add_parser(
        "sandbox",
        help="run the local Keap-compatible sandbox",
        description="A Keap-compatible hooks API on loopback, at /crm/rest/v1, with Keap's "
        "token endpoint at /token, the objects behind events at Keap's v1 paths (/contacts, "
        "/tasks, ...) and a receiver at /_sandbox/receiver. It accepts X-Keap-API-Key, "
        "Authorization: Bearer and ?access_token=. Deliveries follow Keap's rules (retries "
        "30-60 s, 30-60 s, 5 min, 30 min; 30 s to answer; 410 deactivates at once) on a clock "
        "--time-scale times Keap's.",
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
    _sandbox_fault_flags(sandbox)
    sandbox.add_argument(
        "--time-scale",
        type=_time_scale,
        default=0.001,
        metavar="X",
        help="Keap's delivery delays and 30 s answer timeout times X: 1 is Keap's real clock, "
        "0.001 (default) makes the 30-minute retry 1.8 s (the timeout stays at least 2 s)",
    )
    sandbox.add_argument(
        "--payload-shape",
        choices=("documented", "field"),
        default="documented",
        help="the deliveries' body: as Keap documents it (default), or as seen in the field "
        '(apiUrl "", integer ids, timestamps in seconds, a top-level api_url)',
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
    sandbox.set_defaults(handler="sandbox")


def _sandbox_fault_flags(sandbox: argparse.ArgumentParser) -> None:
    """How the sandbox misbehaves on purpose: latency, errors, throttling, the daily quota, and
    how long a receiver may take."""
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
        # sandbox.quota.DEFAULT_DAILY_QUOTA, written here so that parsing imports no server.
        default=250_000,
        metavar="N",
        help="calls a UTC day before 429 Quota Exceeded, as x-keap-product-quota-* headers say "
        "(default 250000, Keap's limit since 2026-06-08; 0 answers 429 at once)",
    )
    sandbox.add_argument(
        "--handshake-timeout",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="seconds the handshake and each delivery may take (default 10)",
    )


def _trigger_command(commands: Any, common: argparse.ArgumentParser) -> None:
    trigger = commands.add_parser(
        "trigger",
        parents=[common],
        help="make the change behind an event on the sandbox and show its deliveries",
        description="Makes the change that produces EVENT on the sandbox at --api-url "
        "(default $KEAP_API_URL, else http://127.0.0.1:8787/crm/rest/v1) from a built-in "
        "fixture of Keap's object, delivers it to the event's Verified subscriptions with "
        "Keap's retries, and prints each attempt.",
        epilog="examples:\n  hookctl trigger contact.add --set email=ada@example.com\n"
        "  hookctl trigger task.complete --set priority:=3 --count 5 --no-wait\n"
        "  hookctl trigger order.add --fixture order.yaml --shape field",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trigger.add_argument("event", metavar="EVENT", help="an event key, e.g. contact.add")
    trigger.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a field: FIELD=text, or FIELD:=JSON for numbers, booleans, lists; "
        "dotted paths reach nested fields (email_addresses.0.email); contacts also take "
        "email= and phone=; repeatable",
    )
    trigger.add_argument(
        "--count",
        type=_positive_int,
        default=1,
        metavar="N",
        help="objects to change (default 1), delivered in batches of up to 1,000 as Keap does",
    )
    trigger.add_argument(
        "--fixture",
        metavar="FILE",
        help="your own fixture, JSON or YAML (`hookctl schema fixture`), instead of the "
        "built-in one",
    )
    trigger.add_argument(
        "--shape",
        choices=("documented", "field"),
        help="the body delivered: as documented, or as seen in the field (default: the "
        "sandbox's --payload-shape)",
    )
    trigger.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="return once the change is made, without waiting for the deliveries",
    )
    trigger.add_argument("--format", choices=("text", "json"), default="text")
    trigger.set_defaults(handler="trigger")


def _deliveries_command(commands: Any, common: argparse.ArgumentParser) -> None:
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--format", choices=("text", "json"), default="text")
    deliveries = commands.add_parser(
        "deliveries",
        parents=[common, filters],
        help="the sandbox's delivery log: every attempt, its body and the answer",
        description="Every delivery attempt the sandbox at --api-url made: time, hook, event, "
        "url (masked), status, duration, attempt and the subscription's status after it. "
        "`deliveries resend ID` replays one now.",
    )
    deliveries.add_argument(
        "--follow", action="store_true", help="keep printing attempts as they happen (Ctrl-C ends)"
    )
    deliveries.add_argument("--hook", metavar="KEY", help="only this subscription's attempts")
    deliveries.add_argument("--event", metavar="GLOB", help="only these events, e.g. 'contact.*'")
    deliveries.add_argument(
        "--failed", action="store_true", help="only attempts that failed (no answer, < 200, >= 400)"
    )
    deliveries.add_argument(
        "--body", action="store_true", help="print each attempt's request body too"
    )
    deliveries.set_defaults(handler="deliveries", resend=None)
    operations = deliveries.add_subparsers(title="operations", metavar="OPERATION")
    resend = operations.add_parser(
        "resend",
        parents=[common, filters],
        help="deliver a logged delivery's body again now, once",
    )
    resend.add_argument("resend", type=_positive_int, metavar="ID", help="the delivery's id")


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
    auth.set_defaults(handler="auth")


# A hooks file may come from a pull request: its urls may aim at the runner's network.
_ALLOW_PRIVATE = (
    "probe private, link-local (cloud metadata), unspecified and mapped addresses too "
    "and loopback (refused by default; loopback is allowed when the account's API url is "
    "loopback, as with the sandbox)"
)


def _probe_command(commands: Any, *parents: argparse.ArgumentParser) -> None:
    # The defaults are hookctl.engine.probe's, applied by cmd_probe: importing it here would slow
    # every command's start (http.client and ssl).
    probe = commands.add_parser(
        "probe", parents=parents, help="run Keap's handshake with every declared url, from here"
    )
    entries = "only the hooks.yaml entries of this name (a glob: * ? [...]); repeatable"
    probe.add_argument("--target", action="append", default=[], metavar="NAME", help=entries)
    seconds, at_once = "seconds per url (default 10)", "urls at once (default 20)"
    probe.add_argument("--timeout", type=_positive_float, metavar="S", help=seconds)
    probe.add_argument("--concurrency", type=_positive_int, metavar="N", help=at_once)
    probe.add_argument("--allow-private", action="store_true", help=_ALLOW_PRIVATE)
    probe.set_defaults(handler="probe", api_url=None)


def _hooks_flags() -> argparse.ArgumentParser:
    """The flags every `hookctl hooks` operation takes besides the common ones."""
    flags = Parser(add_help=False)
    flags.add_argument("--format", choices=("table", "json"), default="table")
    flags.add_argument(
        "--account",
        metavar="NAME",
        help="use this account's api_url and credentials variable from the hooks file",
    )
    flags.add_argument(
        "-f",
        "--file",
        action="append",
        metavar="PATH",
        help="use the account of these hooks files (a file, a directory or a glob; "
        "repeatable): the only one, or the one --account names; their hook urls are not read, "
        "so their ${VAR}s need not be set (default with --account: hooks.yaml, else the "
        "environment's credentials)",
    )
    return flags


def _hooks_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    flags = _hooks_flags()
    hooks = commands.add_parser(
        "hooks", help="Keap's hooks operations, one subscription at a time"
    ).add_subparsers(title="operations", metavar="OPERATION", required=True)

    def op(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = hooks.add_parser(
            name, parents=[common, flags], help=help_text
        )
        parser.set_defaults(handler="hooks", operation=name)
        return parser

    op("types", "the event types this account can subscribe to")
    listing = op("list", "every subscription in the account")
    listing.add_argument(
        "--status",
        type=_status,
        metavar="STATUS",
        help="only subscriptions with this status: Verified, Unverified or Inactive (any case)",
    )
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


def _file_flag(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("-f", "--file", action="append", metavar="PATH", help=help_text)


def _format_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")


def _files_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="FILE",
        help="hooks files, as -f takes them (for pre-commit, which passes the files it matched)",
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
    from hookctl.engine.selection import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _status(text: str) -> str:
    """A hook status as Keap spells it, from any case (people type `inactive`)."""
    from hookctl.domain.models import parse_status

    try:
        return parse_status(text.capitalize())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a status: Verified, Unverified or Inactive"
        ) from None


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


def _time_scale(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text}: at most 1 (Keap's real clock)")
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
