"""What the single-shot commands print: `validate`'s verdict, `hookctl hooks` results and the
secret for delayed verification, the file `hookctl import` makes, `hookctl probe`'s report,
what `fmt` and `import --update` did, and the accounts `hookctl accounts` lists. The same rules
as hookctl.cli.output: text that did not come from hookctl goes through shown (urls masked,
control characters escaped)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hookctl.cli.output import print_json
from hookctl.domain.results import OUTCOMES
from hookctl.domain.secrets import fingerprint
from hookctl.domain.urls import public_url
from hookctl.errors import HookctlError
from hookctl.formats import documents, reports
from hookctl.formats.text import (
    PROBE_MARKS,
    counted,
    markdown_text,
    shown,
    summary_line,
)
from hookctl.system.files import write_atomically

if TYPE_CHECKING:
    from hookctl.domain.models import DesiredState
    from hookctl.domain.results import Declared, Probe
    from hookctl.engine.selection import Selected
    from hookctl.formats.documents import ListedAccount
    from hookctl.keap.auth import KeapAuth
    from hookctl.sandbox import Sandbox
    from hookctl.tools.fmt import Formatted
    from hookctl.tools.operations import Imported, Request
    from hookctl.tools.update import Updated


def valid(selected: Selected, desired: DesiredState) -> None:
    """The line `hookctl validate` gives an account whose file is valid."""
    where = selected.source
    if selected.document.declares_accounts:
        where += f" (account {selected.account.name})"
    hooks = {sub.name for sub in desired.subscriptions}
    print(f"{where}: valid ({len(desired.subscriptions)} subscriptions in {len(hooks)} hooks)")
    if selected.document.unset:
        # Placeholders are fine here; the commands that send urls need their values.
        print(f"  plan and apply will need: {', '.join(selected.document.unset)}")


def hooks_result(
    request: Request, result: Any, fmt: str, *, total: int = 0, reveal: bool = False
) -> None:
    """What a `hookctl hooks` operation gave; `total` is how many a listing chose from. Hook
    urls are masked unless `reveal`."""
    if fmt == "json":
        print_json(reports.hooks_json(result, reveal=reveal))
    elif result is None:
        print(f"Deleted {shown(request.key or '')}.")
    elif request.operation == "list":
        if result:
            print(reports.hooks_table(result, reveal=reveal))
        print(reports.hooks_count(result, total))
    elif request.operation == "types":
        print(reports.hooks_table(result, empty="No event types."))
    else:
        print(reports.hooks_table(result, reveal=reveal))


def hooks_file(imported: Imported, path: str | None, *, overwrite: bool = False) -> None:
    """The file `hookctl import` made, written to `path` (atomically; stdout when None), then
    what it holds, how a plan of it looks and which variables its placeholders need, on
    stderr. FileExistsError names the error when `path` exists and not `overwrite`."""
    if path:
        try:
            write_atomically(path, imported.text, overwrite=overwrite, what="the hooks file")
        except FileExistsError:
            raise HookctlError(f"{path} exists; add --force to overwrite it") from None
    else:
        sys.stdout.write(imported.text)
    subscriptions = imported.desired.subscriptions
    print(
        f"hookctl: {'wrote ' + path if path else 'imported'}: "
        f"{len({sub.name for sub in subscriptions})} hooks, {len(subscriptions)} subscriptions. "
        f"A plan on it now: {summary_line(imported.plan)}.",
        file=sys.stderr,
    )
    if imported.placeholders:
        # Names and keys only: the values are what the file is kept free of.
        print(
            "hookctl: the urls' query values are not in the file, only ${VAR} placeholders; "
            "validate --offline needs none of them; before plan or apply, set them to the "
            "values the urls have in Keap now (`hookctl hooks get KEY --reveal -f FILE` "
            "shows them):",
            file=sys.stderr,
        )
        width = max(len(p.name) for p in imported.placeholders)
        for placeholder in imported.placeholders:
            print(f"  {placeholder.name.ljust(width)}  key {placeholder.key}", file=sys.stderr)


def hook_secret(secret: str | None, secret_env: str | None) -> str | None:
    """The X-Hook-Secret for delayed verification: from $VAR, or from stdin with `-` (asked
    for without echo on a terminal), so that it need not sit in shell history."""
    from hookctl.keap.auth import clean_secret

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


# -- hookctl probe -----------------------------------------------------------------------------

_PROBE_NOTE = (
    "Keap's servers, not this machine, make the real handshake: a probe from here is evidence, "
    "not proof (firewalls and DNS can differ)."
)


def account_list(rows: Sequence[ListedAccount], fmt: str) -> None:
    """`hookctl accounts`: a row per account, or the JSON document a CI matrix reads."""
    if fmt == "json":
        print_json(documents.account_list_document(rows))
        return
    table = [("NAME", "FILE", "API URL", "CREDENTIAL VARIABLES")] + [
        (
            shown(row.name),
            shown(row.file),
            shown(public_url(row.api_url)),
            " ".join(row.credential_variables),
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(3)]
    for line in table:
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        print("  ".join(cells) + "  " + line[3])


def probe_report(
    declared: Sequence[Declared], probes: Mapping[str, Probe], fmt: str, multi: bool
) -> None:
    """What `hookctl probe` found: each declared url, its outcome and time, the entries that
    declare it (and, with several accounts, which), and a summary. Urls masked throughout."""
    if fmt == "json":
        print_json(documents.probe_document(declared, probes))
        return
    found = [(url, probes[url.url]) for url in declared]
    counts = Counter(probe.outcome for _, probe in found)
    failed = sum(not probe.ok for _, probe in found)
    summary = f"Probed {len(found)} urls: " + ", ".join(
        f"{counts[outcome]} {outcome}" for outcome in OUTCOMES if counts[outcome]
    )
    if failed:
        summary += f". Keap would leave the subscriptions of {failed} of them Unverified."
    names = [
        ", ".join(url.names) + (f" (in {', '.join(url.accounts)})" if multi else "")
        for url in declared
    ]
    if not found:
        print("No urls to probe.")
    elif fmt == "markdown":
        print(f"### hookctl probe\n\n**{markdown_text(summary, limit=None)}**\n")
        # Markdown is the pull request's comment: ok or not and the outcome's name only, no
        # timings or redirect targets, which would tell a pull request what the runner's
        # network holds.
        print("| | result | name | hook url |\n|---|---|---|---|")
        for (url, probe), name in zip(found, names, strict=True):
            cells = (
                PROBE_MARKS.get(probe.outcome, "❌"),
                probe.outcome,
                markdown_text(name),
                markdown_text(shown(url.url)),
            )
            print("| " + " | ".join(cells) + " |")
        print(f"\n{_PROBE_NOTE}")
    else:
        labels = [shown(name) for name in names]
        width = max(len(name) for name in labels)
        for (url, probe), name in zip(found, labels, strict=True):
            when = f"{probe.milliseconds:>6} ms"
            print(f"{probe.outcome:<12} {when}  {name.ljust(width)}  {shown(url.url)}")
            if not probe.ok:
                print(f"    {shown(probe.detail)}")
        print(f"\n{summary}" + (f"\n{_PROBE_NOTE}" if failed else ""))


# The diff lines `fmt --check` shows of one file, at most.
DIFF_MAX_LINES = 2000


def formatted(results: Sequence[Formatted], check: bool) -> None:
    """What `hookctl fmt` did (or, with --check, would do): the files it changes, one a line on
    stdout, with --check each followed by its unified diff (urls masked, bounded), and a
    count on stderr."""
    changed = [result for result in results if result.changed]
    for result in changed:
        verb = "would reformat" if check else "reformatted"
        print(f"{verb} {shown(result.path)}")
        if check:
            diff = result.diff()
            for line in diff[:DIFF_MAX_LINES]:
                print(shown(line))
            if len(diff) > DIFF_MAX_LINES:
                print(f"... {len(diff) - DIFF_MAX_LINES} more lines of diff")
    unchanged = len(results) - len(changed)
    print(
        f"hookctl fmt: {len(changed)} file{'' if len(changed) == 1 else 's'} "
        f"{'to reformat' if check else 'reformatted'}, {unchanged} already formatted",
        file=sys.stderr,
    )


def updated(result: Updated, dry_run: bool) -> None:
    """What `hookctl import --update` changed (or, dry, would change) in a hooks file: the
    deepdiff of what it asks for on stdout; what it did, what a plan would still do and the
    variables new entries need on stderr."""
    for line in result.diff.splitlines():
        print(shown(line))
    verb = "would update" if dry_run else "updated"
    where = shown(result.path)
    if not result.changed:
        print(f"hookctl: {where} already matches the account", file=sys.stderr)
    else:
        print(f"hookctl: {verb} {where}", file=sys.stderr)
    for note in result.notes:
        print(f"  {shown(note)}", file=sys.stderr)
    print(
        f"hookctl: a plan on it now: {summary_line(result.plan)}"
        + (" (what the file cannot express)" if result.plan.has_changes else ""),
        file=sys.stderr,
    )
    for placeholder in result.placeholders:
        print(
            f"  set {placeholder.name} (`hookctl hooks get {placeholder.key} --reveal`)",
            file=sys.stderr,
        )


def auth_status(credential: KeapAuth) -> None:
    """`hookctl auth status`: the credential in use and, for an OAuth app, where its tokens are
    kept and when they expire; never a value."""
    from hookctl.keap import oauth

    if not isinstance(credential, oauth.OAuthAuth):
        kind = (
            "X-Keap-API-Key, no expiry"
            if credential.header != "Authorization"
            else ("Bearer access token; hookctl cannot renew it")
        )
        print(f"credential: ${credential.env_name} ({kind})")
        return
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


def sandbox_banner(sandbox: Sandbox, api_key: str | None, token: str | None) -> None:
    """What `hookctl sandbox` says when it starts: where it answers, and a hint of each
    credential it accepts (its length and a digest, never a character of it)."""
    credentials = [f"X-Keap-API-Key {_secret_hint(api_key)}"] if api_key else []
    if token:
        credentials.append(f"access token {_secret_hint(token)}")
    print(f"hookctl sandbox: listening {sandbox.bound_to}", flush=True)
    if not sandbox.loopback_only:
        # Its key is a test key and it answers anyone: off loopback, the network can use it.
        print(
            "hookctl sandbox: WARNING: not on loopback: anyone who can reach this address can "
            "use the sandbox (and make it post handshakes); use --host 127.0.0.1 unless that "
            "is what you want",
            file=sys.stderr,
            flush=True,
        )
    print(f"hookctl sandbox: API       {sandbox.api_url}", flush=True)
    print(f"hookctl sandbox: receiver  {sandbox.receiver_url}", flush=True)
    print(f"hookctl sandbox: token url {sandbox.url}/token", flush=True)
    print(f"hookctl sandbox: accepts   {', '.join(credentials)}", flush=True)
    print("hookctl sandbox: admin calls under /_sandbox (hookctl sandbox --help)", flush=True)


def _secret_hint(secret: str) -> str:
    """A secret as the sandbox's start shows it: its length and a keyed fingerprint, never a
    character of it nor a plain hash a guess could be checked against."""
    return f"***({fingerprint(secret)}, {len(secret)} characters)"


def deliveries(
    records: Sequence[Mapping[str, Any]],
    fmt: str,
    *,
    body: bool,
    follow: bool = False,
    header: bool = True,
) -> bool:
    """Delivery log records: a table, or one JSON document per record when followed (JSON
    lines) and a list otherwise. The hook url is masked; a body is printed only when asked
    for, as JSON on the next line. Returns whether the table's header was printed (`header`
    asks for it; a follower prints it once, before its first line)."""
    if fmt == "json":
        if follow:
            for record in records:
                print(json.dumps(reports.delivery_json(record)), flush=True)
        else:
            print_json([reports.delivery_json(record) for record in records])
        return False
    printed = header and bool(records or not follow)
    if printed:
        print(reports.DELIVERY_HEADER)
    for record in records:
        print(reports.delivery_line(record), flush=True)
        if body:
            print("        " + shown(json.dumps(record.get("body"))), flush=True)
    return printed


def trigger_result(outcome: Mapping[str, Any], fmt: str, *, waited: bool) -> None:
    """What `hookctl trigger` did: the objects changed, then each delivery attempt."""
    if fmt == "json":
        attempts = [reports.delivery_json(record) for record in outcome.get("attempts", [])]
        print_json({**outcome, "attempts": attempts})
        return
    event_key = shown(str(outcome.get("event_key", "")))
    ids = [str(object_id) for object_id in outcome.get("objects", [])]
    shown_ids = ", ".join(ids[:10]) + (f", … ({len(ids)} in all)" if len(ids) > 10 else "")
    print(f"Triggered {event_key} for {counted(len(ids), 'object')}: {shown(shown_ids)}")
    subscriptions = outcome.get("subscriptions", [])
    if not subscriptions:
        print(f"No Verified subscription for {event_key}: nothing delivered.")
        return
    print(f"Delivering to {counted(len(subscriptions), 'Verified subscription')}.")
    if not waited:
        print("Not waiting: see `hookctl deliveries --follow`.")
        return
    attempts = outcome.get("attempts", [])
    print(reports.DELIVERY_HEADER)
    for record in attempts:
        print(reports.delivery_line(record))
    for delivery in outcome.get("deliveries", []):
        print(
            f"hook {shown(str(delivery.get('key', '')))}: {shown(str(delivery.get('result')))} "
            f"after {counted(int(delivery.get('attempts') or 0), 'attempt')}, "
            f"now {shown(str(delivery.get('status') or '-'))}"
        )
