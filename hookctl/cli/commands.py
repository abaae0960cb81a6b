"""The command line: parses arguments, builds the run's options, calls the runner and renders
what it returns. Heavy modules are imported inside the commands, so that `hookctl --version`
stays fast.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hookctl.cli.arguments import EXIT_USAGE, build_parser, version
from hookctl.domain import secrets
from hookctl.errors import HookctlError

if TYPE_CHECKING:
    from hookctl.cli.output import Progress
    from hookctl.engine.planfile import SavedRun
    from hookctl.engine.runner import Options, Planned
    from hookctl.engine.selection import Choosing, Outcome, Ready, Selected, Selection
    from hookctl.keap.sandbox_admin import SandboxAdmin

logger = logging.getLogger("hookctl")

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
EXIT_INTERRUPTED = 130
# Seconds `deliveries --follow` lets the sandbox hold each request open for a new attempt.
FOLLOW_POLL = 5.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"hookctl {version()}")
        return EXIT_OK
    handler = COMMANDS.get(getattr(args, "handler", ""))
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _configure_logging(args.verbose)
    secrets.start_run(os.environ)
    from hookctl.cli import output

    output.configure(args.color, args.verbose > 0)
    try:
        return int(handler(args))
    except HookctlError as exc:
        from hookctl.cli.output import error

        error(exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hookctl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR
    finally:
        # What _targets froze is collectable again once the command is done (main may run
        # many times in one process: tests, benchmarks, embedding).
        gc.unfreeze()


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    from hookctl.cli.output import LogFormatter

    handler.setFormatter(LogFormatter("hookctl: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if verbosity < 3:
        # urllib3's debug lines add nothing we do not log ourselves.
        logging.getLogger("urllib3").setLevel(max(level, logging.INFO))


# -- wiring ------------------------------------------------------------------------------------


def _options(args: argparse.Namespace, *flags: str) -> Options:
    """The run's options: --api-url, which overrides every other url, and the flags of
    Options that this command has, named in `flags`."""
    from hookctl.engine.runner import Options

    return Options(
        api_url=args.api_url or None,
        entry_patterns=tuple(getattr(args, "target", None) or ()),
        max_wait=getattr(args, "max_wait", Options.max_wait),
        max_rate=getattr(args, "max_rate", Options.max_rate),
        **{flag: getattr(args, flag) for flag in flags},
    )


def _selection(args: argparse.Namespace, files: Sequence[str] | None = None) -> Selection:
    """What the command line asks to cover: `-f` (or `files`), --account, --shard, --target."""
    from hookctl.engine.selection import Selection

    return Selection(
        files=tuple(files or args.file or ()),
        account=getattr(args, "account", None),
        shard=getattr(args, "shard", None),
        entry_patterns=tuple(getattr(args, "target", None) or ()),
    )


@dataclass(frozen=True)
class Chosen:
    """The selected accounts of a run, and whether its output has several accounts' shape."""

    accounts: tuple[Selected, ...]
    several: bool


def _choose(
    args: argparse.Namespace,
    options: Options,
    saved: SavedRun | None = None,
    files: Sequence[str] | None = None,
    *,
    each_file_alone: bool = False,
    placeholders: bool = False,
    ready: Ready | None = None,
) -> Chosen:
    """The accounts the command line (or the saved plan) selects, and whether the output has
    several accounts' shape. With several, log lines name their account. `placeholders`: the
    hooks entries' unset variables stand in (config.read_text). `ready`: given each account as
    soon as it is certain (selection.choose), for a read-only run of several accounts."""
    from hookctl.cli import output
    from hookctl.engine import runner, selection

    asked = _selection(args, files)
    if ready is not None:
        # The accounts handed on log while the files are read: their lines are labelled too.
        output.label_log_lines()
    # Reading a fleet's files makes many objects and next to no cyclic garbage, and what is
    # read lives until the command ends: the collector does not walk it while it is read
    # (0.15 ms of CPU a file) nor at any collection after. Frozen before the collector is on
    # again: else its first collection walks everything read at once (0.12 s at 1,000 files),
    # and every full one after walks it again (0.3 ms of CPU an account).
    gc.disable()
    try:
        chosen = selection.choose(
            asked,
            saved,
            runner.api_url_of(options),
            each_file_alone=each_file_alone,
            placeholders=placeholders,
            ready=ready,
        )
    finally:
        gc.freeze()
        gc.enable()
    several = selection.covers_several(asked, chosen, saved)
    if several:
        output.label_log_lines()
    return Chosen(tuple(chosen), several)


def _overlaps(args: argparse.Namespace, *checks: Callable[[], None]) -> bool:
    """Whether a read-only run (drift, plan) starts each account's calls while the next files
    are still being read: when its output's shape is known before reading (several files, no
    --account: selection.several_as_asked) and the `checks` that must pass before any call
    pass. When one fails, the run reads every file first, as before, so that what it says
    comes in the usual order (a file's error first)."""
    from hookctl.engine import selection

    if not selection.several_as_asked(_selection(args)):
        return False
    for check in checks:
        try:
            check()
        except HookctlError:
            return False
    return True


def _overlapped(
    args: argparse.Namespace,
    options: Options,
    work: Callable[[Sequence[Selected] | Choosing, Options], list[Outcome[Planned]]],
) -> tuple[Chosen, list[Outcome[Planned]]]:
    """`work` (runner.plan or runner.drift) over the accounts of the files, each account's
    started as soon as its file is read (see _overlaps); the accounts chosen, in the order
    of the files, with what each gave."""
    outcomes = work(lambda ready: _choose(args, options, ready=ready).accounts, options)
    return Chosen(tuple(outcome.selected for outcome in outcomes), several=True), outcomes


def _check_output(args: argparse.Namespace) -> None:
    """-o writes the fleet page; with another format it would be silently ignored."""
    if args.output is not None and args.format != "html":
        raise HookctlError(f"-o {args.output} writes the page of --format html; add that flag")


def _files(args: argparse.Namespace) -> list[str]:
    """The files of `-f`, then those given as arguments (pre-commit passes the files it matched
    after the flags)."""
    return [*(args.file or ()), *getattr(args, "paths", ())]


# -- commands ----------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from hookctl.cli import command_output, output
    from hookctl.engine import runner

    options = _options(args, "account_parallelism", "app_share", "offline")
    # Each file on its own, as pre-commit expects: two files naming one account both pass.
    # Validation never sends a hook url: the ${VAR}s in hooks entries may be unset.
    chosen = _choose(args, options, files=_files(args), each_file_alone=True, placeholders=True)
    shown: set[str] = set()
    status = EXIT_OK
    for outcome in runner.validate(chosen.accounts, options):
        if outcome.error is not None:
            status = EXIT_ERROR
            output.error(outcome.error, outcome.selected if chosen.several else None, shown)
        elif outcome.value is not None:
            command_output.valid(outcome.selected, outcome.value)
    return status


def cmd_accounts(args: argparse.Namespace) -> int:
    """Every account of the hooks files, for a CI matrix: read from the files alone (no
    credential, no call to Keap)."""
    from hookctl.cli import command_output
    from hookctl.engine import runner
    from hookctl.formats.documents import ListedAccount
    from hookctl.keap.credentials import variable_names

    options = _options(args)
    chosen = _choose(args, options)
    rows = [
        ListedAccount(
            name=selected.label,
            account=selected.account.name,
            file=selected.source,
            api_url=runner.api_url(options, selected.account),
            credential_variables=variable_names(
                selected.account.api_key_env,
                selected.account.access_token_env,
                selected.account.oauth,
            ),
        )
        for selected in chosen.accounts
    ]
    command_output.account_list(rows, args.format)
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from hookctl.cli import output
    from hookctl.engine import runner

    options = _options(
        args, "account_parallelism", "app_share", "force", "allow_empty", "probe", "allow_private"
    )
    _check_output(args)
    # --probe sends to the declared urls, beyond Keap: only once every file is checked.
    if not options.probe and _overlaps(args):
        chosen, outcomes = _overlapped(args, options, runner.plan)
    else:
        chosen = _choose(args, options)
        outcomes = runner.plan(chosen.accounts, options)
    run = output.Run("plan", args.format, chosen.accounts, chosen.several)
    changes = False
    stood: list[tuple[Selected, runner.Planned]] = []
    for selected, planned in run.each(outcomes):
        changes = changes or planned.plan.has_changes
        if run.plan(selected, planned.plan, planned.refusal, planned.probes):
            stood.append((selected, planned))
    if args.out:
        _save(args.out, chosen, stood, run.ok)
    run.close()
    if args.format == "html":
        from hookctl.cli import fleet

        fleet.write_page(args.output, "plan", outcomes)
    if run.ok and args.detailed_exitcode and changes:
        return EXIT_CHANGES
    return EXIT_OK if run.ok else EXIT_ERROR


def _save(path: str, chosen: Chosen, stood: Sequence[tuple[Selected, Planned]], ok: bool) -> None:
    """`plan --out`: every account's plan in one file, or none. A file missing an account that
    failed to plan would let apply leave that account as it is without a word."""
    from hookctl.engine import runner

    if not ok or len(stood) != len(chosen.accounts):
        if chosen.several:
            # One account's error already says why; among several, say what it costs.
            logger.warning("plan not saved to %s: not every account was planned", path)
        return
    runner.save_all(path, stood, several=chosen.several)
    # News, not a warning: said on stderr so that stdout stays the plan alone.
    print(f"hookctl: plan saved to {path}; apply it with: hookctl apply {path}", file=sys.stderr)


def cmd_probe(args: argparse.Namespace) -> int:
    """Keap's handshake with every owned url the files declare, from here. Reads only the
    hooks files (event types from the built-in list, as validate --offline): no credentials,
    no call to Keap."""
    from hookctl.cli import command_output
    from hookctl.engine import probe, runner

    options = _options(args)
    chosen = _choose(args, options)
    states = [(selected.label, selected.desired()) for selected in chosen.accounts]
    declared = probe.declared(states, options.entry_patterns)
    # Loopback only when every account covered is on a loopback API (the sandbox): one url may
    # be declared by several accounts, and the strictest of them decides.
    loopback = all(
        runner.loopback_api(runner.api_url(options, each.account)) for each in chosen.accounts
    )
    found = probe.probe_all(
        [url.url for url in declared],
        timeout=args.timeout or probe.DEFAULT_TIMEOUT,
        concurrency=args.concurrency or probe.DEFAULT_CONCURRENCY,
        allow_private=args.allow_private,
        allow_loopback=loopback,
    )
    command_output.probe_report(declared, found, args.format, chosen.several)
    return EXIT_OK if all(each.ok for each in found.values()) else EXIT_ERROR


def cmd_drift(args: argparse.Namespace) -> int:
    from hookctl.cli import output
    from hookctl.engine import metrics, notify, runner
    from hookctl.formats import documents

    options = _options(args, "account_parallelism", "app_share")
    if args.notify is not None and not args.notify.strip():
        # Most often an unset CI variable (--notify "$HOOKCTL_NOTIFY_URL"): a drift check that
        # would tell no one must fail now, not pass in silence.
        raise HookctlError(
            "--notify: the url is empty (an unset variable?): give a url, or leave --notify out"
        )
    _check_output(args)
    notify_url = args.notify

    def notify_check() -> None:
        if notify_url:
            notify.check(notify_url)

    def metrics_check() -> None:
        if args.metrics_file:
            metrics.check_path(args.metrics_file)

    if _overlaps(args, notify_check, metrics_check):
        chosen, outcomes = _overlapped(args, options, runner.drift)
    else:
        chosen = _choose(args, options)
        try:
            notify_check()
        except HookctlError as exc:
            # Said now, drift or not, so that a scheduled job shows it before it matters; the
            # check itself goes on, and its exit status is the drift's.
            output.error(exc)
            notify_url = None
        # Before any call: a path that cannot be written is found at once, not after a check.
        metrics_check()
        outcomes = runner.drift(chosen.accounts, options)
    run = output.Run("drift", args.format, chosen.accounts, chosen.several)
    drifted = False
    for selected, planned in run.each(outcomes):
        plan = planned.plan
        report = documents.drift_document(
            plan,
            account=selected.account.name,
            api_url=planned.api_url,
            source=selected.source,
            env=os.environ,
        )
        run.drift(selected, plan, report)
        drifted = drifted or plan.has_changes
        if notify_url and plan.has_changes:
            try:
                notify.post(notify_url, report)
            except HookctlError as exc:
                # The drift itself is the news; a failed notification must not hide its exit code.
                output.error(exc, selected if run.multi else None)
    run.close()
    if args.format == "html":
        from hookctl.cli import fleet

        fleet.write_page(args.output, "drift", outcomes)
    if args.metrics_file:
        metrics.write_drift(args.metrics_file, outcomes)
    if not run.ok:
        return EXIT_ERROR
    return EXIT_CHANGES if drifted else EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    from hookctl.cli import output
    from hookctl.engine import planfile, runner, selection

    flags = ("account_parallelism", "app_share", "parallelism", "force", "allow_empty", "dry_run")
    options = _options(args, *flags)
    saved = planfile.read_run(args.planfile) if args.planfile else None
    if saved is not None:
        # A saved plan is applied with the entry patterns (--target) it was made with.
        resolved = selection.for_saved_plan(_selection(args), saved)
        options = replace(options, entry_patterns=resolved.entry_patterns)
    chosen = _choose(args, options, saved)
    with runner.prepare(chosen.accounts, options, saved) as prepared:
        run = output.Run("apply", args.format, chosen.accounts, chosen.several)
        # Accounts that could not be planned are reported before anything is asked or sent.
        ready = list(run.each(prepared.outcomes))
        if prepared.blocked:
            run.not_applied([selected for selected, _ in ready])
            return EXIT_ERROR
        pending = prepared.pending
        plans = [(selected, each.plan) for selected, each in pending]
        output.preview(plans, args.format, run.multi)
        # A saved plan is the approval, as in Terraform: it was reviewed, and apply goes on only
        # if the plan it makes now is exactly the saved one (checked by prepare).
        if pending and not args.dry_run and not args.auto_approve and saved is None:
            where = f" to {len(pending)} accounts" if len(pending) > 1 else ""
            if not output.ask(f"Apply these changes{where}?", "--auto-approve"):
                return EXIT_ERROR
        board = output.Progress(plans, tty=sys.stderr.isatty(), multi=run.multi)

        def progress(selected: Selected) -> runner.Progress:
            return _progress(selected.label if run.multi else "", board)

        try:
            applied = runner.execute(prepared, options, progress)
        except KeyboardInterrupt:
            board.interrupted()
            return EXIT_INTERRUPTED
        board.finish()
        for selected, report in run.each(applied):
            run.report(selected, report)
    run.close()
    return EXIT_OK if run.ok else EXIT_ERROR


def _progress(label: str, board: Progress) -> Callable[[Any], None]:
    """What runs after each write of the account `label` (here so that tests can swap it)."""
    return board.step(label)


def cmd_hooks(args: argparse.Namespace) -> int:
    from hookctl.cli import command_output, output
    from hookctl.engine import runner
    from hookctl.engine.selection import one_account
    from hookctl.formats import reports
    from hookctl.tools.operations import Request, perform

    op = args.operation
    # Before any call: a secret that is missing fails without touching Keap.
    secret = command_output.hook_secret(args.secret, args.secret_env) if op == "verify" else None
    named = ("key", "event_key", "hook_url", "status", "event", "url")
    request = Request(op, secret=secret, **{name: getattr(args, name, None) for name in named})
    # -f or --account: that file's account (one, or --account picks it); neither: the
    # credentials of the environment, as before there was a hooks file. Its hook urls are
    # never sent, so their variables may be unset.
    account = (
        one_account(_selection(args), placeholders=True) if args.account or args.file else None
    )
    with runner.client(_options(args), account) as keap:
        if op == "delete" and not args.yes:
            # Show what would go: the answer should be about a subscription, not a key.
            question = f"Delete subscription {args.key}?"
            if not output.ask(question, "--yes", lambda: reports.hooks_table(keap.get(args.key))):
                return EXIT_ERROR
        answer = perform(keap, request)
    reveal = getattr(args, "reveal", False)
    command_output.hooks_result(
        request, answer.result, args.format, total=answer.total, reveal=reveal
    )
    from hookctl.domain.models import Hook

    # A verify that leaves the hook Unverified failed, whatever Keap answered (perform logs why).
    unverified = isinstance(answer.result, Hook) and answer.result.status != "Verified"
    return EXIT_ERROR if op == "verify" and unverified else EXIT_OK


def cmd_auth(args: argparse.Namespace) -> int:
    import secrets as random_secrets

    from hookctl.cli import command_output
    from hookctl.keap import oauth
    from hookctl.keap.credentials import credentials_from_env, missing_hint

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
        raise HookctlError(f"no credentials: {missing_hint(env=env)}")
    if args.auth_operation == "refresh":
        if not isinstance(credential, oauth.OAuthAuth):
            raise HookctlError(f"{credential!r} is not an OAuth app's: there is nothing to refresh")
        tokens = credential.renew()
        print(
            f"Refreshed: access token valid until {oauth.expiry_text(tokens)}; the new "
            f"refresh token is kept in {credential.token_file}"
        )
        return EXIT_OK
    command_output.auth_status(credential)
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace) -> int:
    from hookctl.cli import command_output
    from hookctl.keap.auth import clean_secret
    from hookctl.sandbox import Faults, Sandbox, SandboxSettings, serve

    faults = Faults(
        latency=args.latency, error_rate=args.error_rate, throttle_rate=args.throttle_rate
    )
    if args.db != ":memory:":
        Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    api_key = clean_secret(args.api_key, "--api-key") if args.api_key else None
    token = clean_secret(args.access_token, "--access-token") if args.access_token else None

    def announce(sandbox: Sandbox) -> None:
        command_output.sandbox_banner(sandbox, api_key, token)

    settings = SandboxSettings(
        host=args.host,
        port=args.port,
        db=args.db,
        api_key=api_key,
        access_token=token,
        faults=faults,
        handshake_timeout=args.handshake_timeout,
        allow_outbound=args.allow_outbound,
        daily_quota=args.daily_quota,
        time_scale=args.time_scale,
        payload_shape=args.payload_shape,
    )
    try:
        serve(settings, announce=announce)
    except OSError as exc:
        raise HookctlError(f"cannot serve on {args.host}:{args.port}: {exc.strerror}") from None
    return EXIT_OK


def _sandbox_admin(args: argparse.Namespace) -> SandboxAdmin:
    from hookctl.keap.client import resolve_api_url
    from hookctl.keap.sandbox_admin import DEFAULT_SANDBOX_API, SandboxAdmin

    return SandboxAdmin(resolve_api_url(args.api_url, default=DEFAULT_SANDBOX_API))


def cmd_trigger(args: argparse.Namespace) -> int:
    from hookctl.cli import command_output
    from hookctl.config.fixture import read_fixture
    from hookctl.domain.fixtures import (
        MAX_COUNT,
        OverrideError,
        apply_overrides,
        fixture,
        parse_override,
    )
    from hookctl.domain.models import KNOWN_EVENT_KEYS
    from hookctl.formats.text import shown

    event_key: str = args.event
    if event_key not in KNOWN_EVENT_KEYS:
        raise HookctlError(f"trigger: {shown(event_key)} is not one of Keap's event types")
    try:
        overrides = [parse_override(text) for text in args.set]
        given = read_fixture(args.fixture, event_key) if args.fixture else [fixture(event_key)]
        objects = [apply_overrides(event_key, fields, overrides) for fields in given]
    except OverrideError as error:
        raise HookctlError(f"trigger: {error}") from None
    if len(objects) * args.count > MAX_COUNT:
        total = len(objects) * args.count
        raise HookctlError(f"trigger: at most {MAX_COUNT} objects at once, not {total}")
    admin = _sandbox_admin(args)
    # Waiting covers Keap's whole retry schedule on the sandbox's clock, bounded by --max-wait.
    outcome = admin.trigger(
        event_key,
        objects,
        count=args.count,
        shape=args.shape,
        wait=args.wait,
        timeout=max(args.max_wait, 30.0),
    )
    command_output.trigger_result(outcome, args.format, waited=args.wait)
    return EXIT_OK


def cmd_deliveries(args: argparse.Namespace) -> int:
    from hookctl.cli import command_output
    from hookctl.domain.models import event_glob_matches

    admin = _sandbox_admin(args)
    if args.resend is not None:
        command_output.deliveries([admin.resend(args.resend)], args.format, body=False)
        return EXIT_OK

    def wanted(record: dict[str, Any]) -> bool:
        if args.hook is not None and str(record.get("hook_key")) != args.hook:
            return False
        if args.event is not None and not event_glob_matches(args.event, str(record["event_key"])):
            return False
        status = record.get("status")
        return not args.failed or not (isinstance(status, int) and 200 <= status < 400)

    last, header, poll = 0, True, 0.0
    while True:
        # After the first look, the sandbox holds a follower's request until an attempt comes
        # (at most a few seconds), so a new attempt shows at once without polling fast.
        records = admin.deliveries(last, wait=poll)
        poll = FOLLOW_POLL
        if records:
            last = int(records[-1]["id"])
        shown_records = [r for r in records if wanted(r)]
        printed = command_output.deliveries(
            shown_records, args.format, body=args.body, follow=args.follow, header=header
        )
        header = header and not printed
        if not args.follow:
            return EXIT_OK


def cmd_fmt(args: argparse.Namespace) -> int:
    from hookctl.cli import command_output
    from hookctl.engine.selection import DEFAULT_FILES, hooks_files
    from hookctl.tools import fmt

    paths = hooks_files(_files(args) or DEFAULT_FILES)
    # Every file is formatted in memory before any is written: one that cannot be leaves all
    # of them as they were.
    results = [fmt.format_file(path) for path in paths]
    if not args.check:
        fmt.write(results)
    command_output.formatted(results, args.check)
    return EXIT_ERROR if args.check and any(r.changed for r in results) else EXIT_OK


def _import_update(args: argparse.Namespace) -> int:
    from hookctl.cli import command_output
    from hookctl.engine import runner
    from hookctl.engine.selection import Selection, choose
    from hookctl.system.files import rewrite_in_place
    from hookctl.tools.fmt import read_text
    from hookctl.tools.update import update

    if args.output or args.prefix or args.all or args.force or args.schema:
        raise HookctlError(
            "--update FILE edits FILE in place with its own account and ownership: leave out "
            "-o, --prefix, --all, --schema and --force"
        )
    # A directory or glob, as everywhere -f is taken: --account picks the file. The file's
    # ${VAR}s need not be set: import --update matches entries without them.
    chosen = choose(Selection(files=(args.update,), account=args.account), placeholders=True)
    if len(chosen) > 1:
        names = ", ".join(each.label for each in chosen)
        raise HookctlError(
            f"{args.update}: --update edits one file, and this names {len(chosen)} accounts "
            f"({names}): choose one with --account NAME"
        )
    [selected] = chosen
    path = selected.source
    if len(selected.document.accounts) != 1:
        raise HookctlError(f"{path}: --update takes a file with a single account")
    original = read_text(path)
    with runner.client(_options(args), selected.account) as keap:
        updated = update(keap, path, original)
    if updated.changed and not args.dry_run:
        rewrite_in_place(path, updated.text, original, what="the hooks file")
    command_output.updated(updated, args.dry_run)
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from hookctl.system.files import schema_text

    sys.stdout.write(schema_text(f"{args.name}.schema.json"))
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from hookctl.cli import command_output
    from hookctl.engine import runner
    from hookctl.tools.operations import adopt

    if args.update:
        return _import_update(args)
    if args.dry_run:
        raise HookctlError("--dry-run goes with --update FILE")
    # Checked before calling Keap so that a refusal costs nothing and changes nothing.
    if args.output and os.path.exists(args.output) and not args.force:
        raise HookctlError(f"{args.output} exists; add --force to overwrite it")
    from hookctl.domain.models import Account

    account = Account(
        name=args.account or "default",
        api_key_env=args.api_key_env,
        access_token_env=args.access_token_env,
    )
    with runner.client(_options(args), account) as keap:
        source = args.output or "<stdout>"
        imported = adopt(
            keap,
            source=source,
            prefixes=args.prefix,
            manage_all=args.all,
            account=account,
            schema=args.schema,
        )
    command_output.hooks_file(imported, args.output, overwrite=args.force)
    return EXIT_OK


# What each command's `handler=` (hookctl.cli.arguments) names.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "accounts": cmd_accounts,
    "apply": cmd_apply,
    "auth": cmd_auth,
    "deliveries": cmd_deliveries,
    "drift": cmd_drift,
    "fmt": cmd_fmt,
    "hooks": cmd_hooks,
    "import": cmd_import,
    "plan": cmd_plan,
    "probe": cmd_probe,
    "sandbox": cmd_sandbox,
    "schema": cmd_schema,
    "trigger": cmd_trigger,
    "validate": cmd_validate,
}
