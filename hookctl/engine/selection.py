"""One command over many accounts: which files and accounts it covers, and running the work of
each side by side, so that one account failing (unreachable, refused credentials, a safety
refusal) neither stops nor hides the others.

Nothing here talks to Keap: the runner (hookctl.engine.runner) passes the per-account work in. Each
account's work runs in its own thread with its own client, so each keeps its own connection
pool and its own pacing on Keap's throttle headers (Keap's quotas are per account).
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from hookctl import config
from hookctl.domain.models import Account, DesiredState, OAuthEnv
from hookctl.errors import ConfigError, HookctlError
from hookctl.system.interrupts import watch

__all__ = [
    "CURRENT",
    "Outcome",
    "Target",
    "UnknownAccount",
    "hooks_files",
    "in_shard",
    "parse_shard",
    "read_all",
    "run_each",
    "same_account",
    "select",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The label of the account whose work the current thread is doing, for log lines.
CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("account", default=None)

_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Target:
    """One account of one hooks file: the unit that plan, apply and drift work on."""

    document: config.Document
    account: Account
    label: str  # how output names it: "staging", or "clients/acme.yaml:staging" among files

    @property
    def source(self) -> str:
        return self.document.source

    def desired(self, event_types: config.EventTypes = None) -> DesiredState:
        return self.document.desired(self.account.name, event_types)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one target's work gave: a value, or the error that stopped it."""

    target: Target
    value: T | None = None
    error: HookctlError | None = None
    # How long the work took, in seconds (the fleet page's Duration); None when not timed.
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def hooks_files(paths: Sequence[str]) -> list[str]:
    """The hooks files that `-f` arguments name: files as given, and the *.yaml / *.yml files
    directly inside a directory, in name order. A file named twice, however spelt (`a.yaml`,
    `./a.yaml`, through a directory), is read once, as first named: read twice, its accounts
    would be applied twice, side by side.

    HookctlError, in one line naming the path, for a directory that cannot be listed and for
    an entry in it that cannot be followed (a symlink loop) or is not a regular file (a FIFO
    or a device, which could block the read or never end); a path given as a file is checked
    when it is read (hookctl.config.read)."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            inside = _yaml_files(path)
            if not inside:
                raise HookctlError(f"{path}: no *.yaml or *.yml files in this directory")
            found.extend(inside)
        else:
            found.append(path)
    unique: dict[str, str] = {}
    for path in found:
        unique.setdefault(os.path.realpath(path), path)
    return list(unique.values())


def _yaml_files(directory: str) -> list[str]:
    """The paths of the hooks files directly in `directory`, in name order; subdirectories
    are not read."""
    try:
        with os.scandir(directory) as entries:
            named = sorted(
                entry.path
                for entry in entries
                if entry.name.endswith(_SUFFIXES) and not entry.name.startswith(".")
            )
    except OSError as exc:
        raise HookctlError(f"{directory}: cannot list this directory: {_reason(exc)}") from None
    files = []
    for path in named:
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            continue  # a dangling symlink: nothing to read, as before
        except OSError as exc:
            # A symlink loop (ELOOP) among them: stat says so instead of recursing.
            raise HookctlError(f"{path}: cannot read: {_reason(exc)}") from None
        if stat.S_ISREG(mode):
            files.append(path)
        elif not stat.S_ISDIR(mode):
            raise HookctlError(f"{path}: {config.not_a_file(mode)}")
    return files


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def read_all(
    paths: Sequence[str], env: Mapping[str, str] | None = None, *, placeholders: bool = False
) -> list[config.Document]:
    """Read and check every file; one ConfigError listing the problems of all of them. With
    `placeholders`, the hooks entries' unset variables stand in (config.read_text)."""
    documents: list[config.Document] = []
    issues = []
    for path in paths:
        try:
            documents.append(config.read(path, env, placeholders=placeholders))
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ConfigError(issues)
    return documents


def select(documents: Sequence[config.Document], account: str | None = None) -> list[Target]:
    """Every account of every document, or those named `account`. UnknownAccount when no
    document has an account of that name.

    Among several files, a file with a single `account:` is named after its file stem
    (clients/acme.yaml -> acme), so that one file per client can be picked, saved and shown by
    client. A file alone keeps the name "default", unless `account` is its stem: a plan saved
    for `acme` among a directory is applied to clients/acme.yaml alone."""
    several_files = len(documents) > 1
    documents = [
        _stem_named(document)
        if several_files or (account is not None and account == _stem(document.source))
        else document
        for document in documents
    ]
    _check_stem_clashes(documents)
    targets = [
        Target(document, each, _label(document, each, several_files))
        for document in documents
        for each in document.accounts
        if account is None or each.name == account
    ]
    if not targets:
        declared = sorted({name for document in documents for name in document.account_names})
        where = (
            f"{documents[0].source} has no account"
            if len(documents) == 1
            else "none of the files has an account"
        )
        raise UnknownAccount(
            f"--account {account}: {where} of that name (declared: {', '.join(declared)})"
        )
    return targets


def _stem(source: str) -> str:
    name = os.path.basename(source)
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _stem_named(document: config.Document) -> config.Document:
    """`document` with its single `account:` named after the file stem."""
    if document.declares_accounts:
        return document
    (only,) = document.accounts
    return replace(document, accounts=(replace(only, name=_stem(document.source)),))


def _check_stem_clashes(documents: Sequence[config.Document]) -> None:
    """HookctlError naming both files when a file-stem name is also the name of another file's
    account: `--account NAME`, a saved plan and the output could not tell them apart."""
    seen: dict[str, config.Document] = {}
    for document in documents:
        for name in document.account_names:
            other = seen.get(name)
            if other is not None and not (other.declares_accounts and document.declares_accounts):
                raise HookctlError(
                    f"{other.source} and {document.source} both name an account {name!r} "
                    "(a file with a single `account:` is named after its file stem among "
                    "several files): rename one of the files or accounts"
                )
            seen.setdefault(name, document)


def _label(document: config.Document, account: Account, several_files: bool) -> str:
    if not several_files:
        return account.name
    if not document.declares_accounts:
        return document.source
    return f"{document.source}:{account.name}"


def shard_of(label: str, count: int) -> int:
    """The shard, of `count`, that the account `label` belongs to. A hash of the name rather
    than a position: adding or removing an account never moves the others to another shard,
    so a shard's metrics and logs keep following the same accounts."""
    digest = hashlib.sha256(label.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` as (I, N); ValueError saying what is wrong."""
    index, _, count = text.partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        raise ValueError("must be I/N, e.g. 0/4") from None
    if not 0 <= shard[0] < shard[1]:
        raise ValueError("must be I/N with 0 <= I < N, e.g. 0/4 .. 3/4")
    return shard


def in_shard(targets: Sequence[Target], index: int, count: int) -> list[Target]:
    """The targets of shard `index` (from 0) of `count`: the shards 0..count-1 of the same
    targets hold each exactly once."""
    if not 0 <= index < count:
        raise ValueError(f"shard {index}/{count}: the index runs from 0 to {count - 1}")
    return [target for target in targets if shard_of(target.label, count) == index]


def same_account(
    targets: Sequence[Target], api_url: Callable[[Account], str]
) -> list[tuple[Target, Target]]:
    """Pairs of targets that would reach Keap at the same url with the same credential
    variable: most likely one account managed twice, where two desired states would undo
    each other's work on every apply."""
    first: dict[tuple[str, str | None, str | None, OAuthEnv | None], Target] = {}
    pairs = []
    for target in targets:
        account = target.account
        key = (api_url(account), account.api_key_env, account.access_token_env, account.oauth)
        if key in first:
            pairs.append((first[key], target))
        else:
            first[key] = target
    return pairs


class UnknownAccount(HookctlError):
    """No hooks file declares the account asked for."""


def run_each(
    targets: Sequence[Target], work: Callable[[Target], T], max_workers: int = 4
) -> list[Outcome[T]]:
    """Run `work` for every target, at most `max_workers` at a time, and return the outcomes
    in the order of `targets`. A HookctlError ends only its own target's work. Anything else
    (a bug, or Ctrl-C) propagates at once: accounts not yet started are not started, and
    those at work see check_interrupted() raise."""
    stop = threading.Event()

    def one(target: Target) -> Outcome[T]:
        CURRENT.set(target.label)
        watch(stop)
        started = time.monotonic()
        try:
            value = work(target)
        except HookctlError as exc:
            logger.debug("%s failed: %s", target.label, exc)
            return Outcome(target, error=exc, seconds=time.monotonic() - started)
        return Outcome(target, value=value, seconds=time.monotonic() - started)

    if len(targets) == 1:
        # Same thread: a single account gains nothing from a pool, and a traceback or a
        # debugger stays simple.
        context = contextvars.copy_context()
        return [context.run(one, targets[0])]
    pool = ThreadPoolExecutor(max(1, max_workers), thread_name_prefix="account")
    try:
        futures = [pool.submit(contextvars.copy_context().run, one, t) for t in targets]
        return [future.result() for future in futures]
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
