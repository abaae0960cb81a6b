"""Selection: which files, accounts and hooks entries a command covers, and running the work of
each account side by side, so that one account failing (unreachable, refused credentials, a
safety refusal) neither stops nor hides the others.

One vocabulary, used everywhere: a `Selection` is what the command line asks for (the files of
`-f`, `--account`, `--shard` and the entry patterns of `--target`); `choose` turns it into the
`Selected` accounts, each one account of one hooks file; a saved plan brings its own selection
(`for_saved_plan`), which the command line may only narrow.

Nothing here talks to Keap: the runner (hookctl.engine.runner) passes the per-account work in. Each
account's work runs in its own thread with its own client, so each keeps its own connection
pool and its own pacing on Keap's throttle headers (Keap's quotas are per account).
"""

from __future__ import annotations

import contextvars
import glob
import hashlib
import logging
import os
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Generic, TypeVar

from hookctl import config
from hookctl.domain.models import Account, DesiredState, OAuthEnv
from hookctl.domain.planner import entry_matches
from hookctl.engine.planfile import SavedPlan, SavedRun
from hookctl.errors import ConfigError, HookctlError, StalePlanError
from hookctl.formats.text import cell
from hookctl.system.interrupts import watch

__all__ = [
    "CURRENT",
    "DEFAULT_FILES",
    "Choosing",
    "Outcome",
    "Ready",
    "Selected",
    "Selection",
    "UnknownAccount",
    "check_entry_patterns",
    "check_saved_account",
    "choose",
    "covers_several",
    "for_saved_plan",
    "hooks_files",
    "in_shard",
    "in_shard_of",
    "one_account",
    "parse_shard",
    "read_all",
    "run_each",
    "same_account",
    "saved_plan_for",
    "select",
    "settled_names",
    "several_as_asked",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The label of the account whose work the current thread is doing, for log lines.
CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("account", default=None)

_SUFFIXES = (".yaml", ".yml")
DEFAULT_FILES = ("hooks.yaml",)


@dataclass(frozen=True)
class Selection:
    """What a command was asked to cover, before any file is read."""

    # -f FILE|DIR and the files given as arguments; none: hooks.yaml.
    files: tuple[str, ...] = ()
    # --account NAME: that account alone.
    account: str | None = None
    # --shard I/N: the accounts whose name hashes to shard I of N.
    shard: tuple[int, int] | None = None
    # --target NAME (shell globs): only the hooks entries these name.
    entry_patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selected:
    """One account of one hooks file: the unit that plan, apply and drift work on."""

    document: config.Document
    account: Account
    # How output, --account, shards and saved plans name it: "staging", "acme", or, for an
    # account of `accounts:` among several files, "clients/regions.yaml:eu".
    label: str

    @property
    def source(self) -> str:
        return self.document.source

    def desired(self, event_types: config.EventTypes = None) -> DesiredState:
        return self.document.desired(self.account.name, event_types)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one selected account's work gave: a value, or the error that stopped it."""

    selected: Selected
    value: T | None = None
    error: HookctlError | None = None
    # How long the work took, in seconds (the fleet page's Duration); None when not timed.
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# Given each account that is certain to be chosen, as soon as it is (choose's `ready`).
Ready = Callable[[Selected], None]
# The accounts of a run still to be chosen: reads the files, hands each account to its `Ready`
# as soon as it is certain, and returns every account chosen (choose with `ready`).
Choosing = Callable[[Ready], Sequence[Selected]]


def choose(
    selection: Selection,
    saved: SavedRun | None = None,
    api_url: Callable[[Account], str] | None = None,
    *,
    each_file_alone: bool = False,
    placeholders: bool = False,
    ready: Ready | None = None,
) -> list[Selected]:
    """The accounts `selection` covers, every file read and checked; with a saved plan, the
    accounts it was made for (see for_saved_plan). `api_url`, the url each account's client
    would call, lets two selections of one Keap account be warned about. `each_file_alone`:
    files are checked each on its own (validate), so two files naming one account are not
    refused. `placeholders`: the hooks entries' unset variables stand in (validate, and
    commands that never send a hook url).

    Without `ready`, every file is read and checked before the caller sends anything to Keap,
    as apply, a saved plan and the commands of one file need. With `ready` (read-only runs
    over several files: drift, plan), each account is handed to it as soon as it is certain to
    be among those returned, under the label it is returned with, while the next files are
    still to be read: its own file read and passed every check a file has on its own (its
    api_url, its credential variables, its entries), its name final whatever the other files
    turn out to hold (settled_names), --account and --shard decided on that name. The checks
    across files (the problems of every file in one ConfigError, two files naming one account,
    --target naming nothing, an unknown --account) still run when every file is read: they
    decide whether the run's output is shown, and the caller discards what the accounts handed
    on did when they fail. The list returned is the same, in the same order, either way.

    That stays safe with a pull request's files: what an account sends depends on its own file
    and the environment alone, and that file is fully checked before its first request; a
    read-only run sends only reads, so a later file's error costs some GETs and shows nothing
    of them."""
    if saved is not None:
        return _choose_saved(for_saved_plan(selection, saved), saved)
    paths = hooks_files(selection.files or DEFAULT_FILES)
    on_read = _handing_on(selection, paths, ready) if ready is not None else None
    documents = read_all(paths, placeholders=placeholders, on_read=on_read)
    found = select(documents, selection.account, each_file_alone=each_file_alone)
    check_entry_patterns(found, selection.entry_patterns)
    if api_url is not None:
        for first, second in same_account(found, api_url):
            logger.warning(
                "%s and %s use the same credentials variable and API url: if they are one Keap "
                "account, their hooks files must declare different urls, or each apply undoes "
                "the other's work",
                first.label,
                second.label,
            )
    if selection.shard is not None:
        found = in_shard(found, *selection.shard)
        if not found:
            logger.warning("shard %d/%d has none of the accounts", *selection.shard)
    return found


def one_account(selection: Selection, *, placeholders: bool = False) -> Account:
    """The one account `selection` names, for the commands that work on one account (`hooks`,
    `import --update`): HookctlError, in one line, when it covers several."""
    found = choose(selection, placeholders=placeholders)
    if len(found) > 1:
        names = ", ".join(each.label for each in found)
        where = ", ".join(selection.files or DEFAULT_FILES)
        raise HookctlError(
            f"{where} declares several accounts ({names}): name one with --account NAME"
        )
    return found[0].account


def covers_several(
    selection: Selection, found: Sequence[Selected], saved: SavedRun | None = None
) -> bool:
    """Whether a run shows several accounts' output (a heading per account, the `accounts`
    JSON document): decided by what was asked, not by how many accounts it happened to
    find, so that a parser sees one shape per input. Several when the files are a directory,
    a glob or more than one, when a file declares `accounts:`, and for any shard (a shard of
    one account today may hold two tomorrow); one when --account names a single account."""
    if len(found) > 1 or selection.shard is not None:
        return True
    if saved is not None:
        return saved.several and selection.account is None
    if selection.account is not None:
        return False
    return (
        several_as_asked(selection)
        or len({os.path.realpath(each.source) for each in found}) > 1
        or any(each.document.declares_accounts for each in found)
    )


def several_as_asked(selection: Selection) -> bool:
    """Whether a run shows several accounts' output whatever its files hold, as the command
    line alone says (see covers_several): --account not given, and a shard, a directory, a
    glob or more than one file. Then the output's shape is known before anything is read."""
    if selection.account is not None:
        return False
    files = selection.files or DEFAULT_FILES
    return (
        selection.shard is not None
        or any(os.path.isdir(path) or _is_glob(path) for path in files)
        or len({os.path.realpath(path) for path in files}) > 1
    )


def check_entry_patterns(found: Sequence[Selected], patterns: Sequence[str]) -> None:
    """HookctlError, before anything is sent, for an entry pattern (--target) that names no
    entry of the files: a typo would otherwise plan nothing and look like success."""
    names = {name for each in found for name in each.document.entry_names}
    for pattern in patterns:
        if not any(entry_matches(name, [pattern]) for name in names):
            sources = ", ".join(sorted({each.source for each in found}))
            raise HookctlError(f"--target {pattern}: no hooks entry of {sources} has that name")


def for_saved_plan(selection: Selection, saved: SavedRun) -> Selection:
    """The selection a saved plan is applied with: the files given, else those it was made
    from; its own accounts and its own entry patterns. The command line may narrow them to one
    account (--account) and repeat the entry patterns, never name others (the reviewed plan
    decides): HookctlError when it does."""
    if selection.shard is not None:
        raise HookctlError("--shard splits the accounts of hooks files, not a saved plan")
    patterns = saved.plans[0].entry_patterns
    if selection.entry_patterns and tuple(selection.entry_patterns) != patterns:
        made_with = " ".join(patterns)
        raise HookctlError(
            f"{saved.path} was made with "
            + (f"--target {made_with}" if patterns else "no --target")
            + ": a saved plan is applied with its own entry patterns; leave --target out"
        )
    account = selection.account
    if not saved.several:
        (only,) = saved.plans
        if account is not None:
            check_saved_account(only, account)
        account = only.account
    elif account is not None and not any(account in (p.label, p.account) for p in saved.plans):
        raise StalePlanError(
            f"{saved.path}: it holds no plan for account {account!r} (it holds "
            f"{cell(', '.join(p.label for p in saved.plans))})"
        )
    sources = tuple(dict.fromkeys(plan.source for plan in saved.plans))
    return Selection(
        files=tuple(selection.files or sources), account=account, entry_patterns=patterns
    )


def saved_plan_for(saved: SavedRun, selected: Selected) -> SavedPlan:
    """The saved plan of the account `selected`; StalePlanError when the file holds none for
    it (a file of one account: it was made for another; several: the account is new since)."""
    if not saved.several:
        (only,) = saved.plans
        check_saved_account(only, selected.account.name)
        return only
    found = saved.plan_for(selected.label)
    if found is None:
        raise StalePlanError(
            f"{saved.path}: it holds no plan for account {selected.label!r}, which is new since "
            "it was made; run `hookctl plan` again"
        )
    return found


def check_saved_account(saved: SavedPlan, account: str) -> None:
    """StalePlanError unless `saved` was made for the account named `account`: the one check,
    made when the command line names an account and again when apply is handed an account."""
    if account != saved.account:
        raise StalePlanError(
            f"{saved.path}: it was made for account {cell(saved.account)!r}, not {account!r}; "
            "apply it to its own account, or run `hookctl plan` again"
        )


def _choose_saved(selection: Selection, saved: SavedRun) -> list[Selected]:
    try:
        found = choose(selection)
    except UnknownAccount:
        if saved.several:
            raise
        raise HookctlError(
            f"{saved.path} is a plan for account {saved.plans[0].account!r}, which "
            f"{', '.join(selection.files)} no longer declares; run `hookctl plan` again"
        ) from None
    if not saved.several:
        if len(found) > 1:
            raise HookctlError(
                f"{saved.path} is a plan for one account, and {len(found)} files declare "
                f"{saved.plans[0].account!r}: name the file with -f FILE"
            )
        return found
    # Every account the plan holds (or the one --account names) must be there to be checked:
    # one gone would be left as it was without a word.
    labels = {each.label for each in found}
    missing = [
        plan.label
        for plan in saved.plans
        if plan.label not in labels and selection.account in (None, plan.label, plan.account)
    ]
    if missing:
        raise StalePlanError(
            f"{saved.path}: the hooks files no longer declare {cell(', '.join(missing))}, "
            "which it holds plans for; run `hookctl plan` again"
        )
    return found


def hooks_files(paths: Sequence[str]) -> list[str]:
    """The hooks files that `-f` arguments name: files as given; the *.yaml / *.yml files
    inside a directory and its subdirectories (hidden ones skipped), in path order; and the
    files a glob matches (`envs/*/hooks.yaml`, `clients/**/*.yaml`), for CI where no shell
    expands them. A file named twice, however spelt (`a.yaml`, `./a.yaml`, through a
    directory), is read once, as first named: read twice, its accounts would be applied twice.

    Bounded: MAX_DEPTH levels below a directory, MAX_FILES files in all. HookctlError, in one
    line naming the path, for a directory that cannot be listed, a directory or glob with no
    hooks file, an entry that cannot be followed (a symlink loop) or is not a regular file (a
    FIFO or a device, which could block the read or never end); a path given as a file is
    checked when it is read (hookctl.config.read)."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            inside = _yaml_files(path)
            if not inside:
                raise HookctlError(f"{path}: no *.yaml or *.yml files in this directory")
            found.extend(inside)
        elif _is_glob(path) and not os.path.exists(path):
            matched = _glob(path)
            if not matched:
                raise HookctlError(f"{path}: no file matches this pattern")
            found.extend(matched)
        else:
            found.append(path)
        if len(found) > MAX_FILES:
            raise HookctlError(f"{path}: more than {MAX_FILES} hooks files: name fewer")
    unique: dict[str, str] = {}
    for path in found:
        unique.setdefault(os.path.realpath(path), path)
    return list(unique.values())


# A fleet of a few thousand accounts fits; a path that reaches further is most likely a
# mistake (the root of a file system), and walking it would take minutes.
MAX_FILES = 5000
MAX_DEPTH = 8


def _is_glob(path: str) -> bool:
    return any(char in path for char in "*?[")


def _glob(pattern: str) -> list[str]:
    """The regular *.yaml / *.yml files `pattern` matches (`**` across directories), in path
    order, read lazily so that a pattern matching millions stops at the bound."""
    matched = []
    for path in glob.iglob(pattern, recursive=True):
        if os.path.isdir(path):
            continue
        matched.append(path)
        if len(matched) > MAX_FILES:
            raise HookctlError(f"{pattern}: matches more than {MAX_FILES} files: name fewer")
    return _regular(sorted(matched))


def _yaml_files(directory: str, depth: int = 0) -> list[str]:
    """The paths of the hooks files in `directory` and, MAX_DEPTH levels down, in its
    subdirectories (not hidden ones, such as .git or .github), in path order."""
    try:
        with os.scandir(directory) as entries:
            named = sorted(
                (entry.path, entry.is_dir(follow_symlinks=False))
                for entry in entries
                if not entry.name.startswith(".")
            )
    except OSError as exc:
        raise HookctlError(f"{directory}: cannot list this directory: {_reason(exc)}") from None
    files = _regular([path for path, is_dir in named if not is_dir and path.endswith(_SUFFIXES)])
    for path, is_dir in named:
        if is_dir:
            if depth >= MAX_DEPTH:
                raise HookctlError(f"{path}: more than {MAX_DEPTH} directories deep: name it")
            files.extend(_yaml_files(path, depth + 1))
            if len(files) > MAX_FILES:
                raise HookctlError(f"{directory}: more than {MAX_FILES} hooks files: name fewer")
    return files


def _regular(paths: Sequence[str]) -> list[str]:
    """The regular files among `paths`; HookctlError for one that is something else."""
    files = []
    for path in paths:
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
    paths: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    placeholders: bool = False,
    on_read: Callable[[config.Document], None] | None = None,
) -> list[config.Document]:
    """Read and check every file, in order; one ConfigError listing the problems of all of
    them. With `placeholders`, the hooks entries' unset variables stand in
    (config.read_text). `on_read` is given each file's document as soon as it is read, as long
    as no file has failed: once one has, the run will end in that error."""
    documents: list[config.Document] = []
    issues = []
    for path in paths:
        try:
            document = config.read(path, env, placeholders=placeholders)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        documents.append(document)
        if on_read is not None and not issues:
            on_read(document)
    if issues:
        raise ConfigError(issues)
    return documents


def _handing_on(
    selection: Selection, paths: Sequence[str], ready: Ready
) -> Callable[[config.Document], None]:
    """What hands each account of a document just read to `ready`, when select will choose it
    under that label whatever the other files of `paths` hold (see choose)."""
    several_files = len(paths) > 1
    settled = settled_names(paths) if several_files else {}

    def hand_on(document: config.Document) -> None:
        if _unnamed(document):
            name = settled.get(document.source)
            if name is None:
                return  # its name depends on the other files: it waits for the end
            document = _renamed(document, name)
        for account in document.accounts:
            label = _label(document, account, several_files)
            if selection.account not in (None, account.name, label):
                continue
            if selection.shard is not None and not in_shard_of(label, *selection.shard):
                continue
            ready(Selected(document, account, label))

    return hand_on


def select(
    documents: Sequence[config.Document],
    account: str | None = None,
    *,
    each_file_alone: bool = False,
    placeholders: bool = False,
) -> list[Selected]:
    """Every account of every document, or those named `account`. UnknownAccount when no
    document has an account of that name.

    A file with a single `account:` is named by its `account: {name: ...}`; without one, among
    several files, by the shortest part of its path that tells the files apart (see
    path_names): envs/staging/hooks.yaml -> staging, services/crm/keap-hooks.yaml -> crm,
    clients/acme.yaml -> acme. A file alone keeps the name "default", unless `account` is one
    of the names its path gives it: a plan saved for `acme` among a directory is applied to
    clients/acme.yaml alone. Two files whose accounts have one name are refused (`--account`,
    a saved plan and the output could not tell them apart), unless `each_file_alone` (validate,
    which checks each file on its own)."""
    several_files = len(documents) > 1
    every = [document.source for document in documents]
    unnamed = [document.source for document in documents if _unnamed(document)]
    names = path_names(unnamed, every) if several_files else {}
    renamed = []
    for document in documents:
        name = names.get(document.source)
        if name is None and not several_files and account is not None and _unnamed(document):
            name = account if account in _path_candidates(document.source) else None
        renamed.append(_renamed(document, name) if name is not None else document)
    if not each_file_alone:
        _check_name_clashes(renamed)
    labelled = [
        Selected(document, each, _label(document, each, several_files))
        for document in renamed
        for each in document.accounts
    ]
    # --account takes an account's name or its label (what `hookctl accounts` lists).
    found = [each for each in labelled if account in (None, each.account.name, each.label)]
    if not found:
        declared = sorted({name for document in renamed for name in document.account_names})
        where = (
            f"{renamed[0].source} has no account"
            if len(renamed) == 1
            else "none of the files has an account"
        )
        raise UnknownAccount(
            f"--account {account}: {where} of that name (declared: {', '.join(declared)})"
        )
    return found


def _unnamed(document: config.Document) -> bool:
    """Whether the file's single account takes its name from the file's path."""
    return not document.declares_accounts and not document.names_its_account


def _components(source: str) -> list[str]:
    """The parts of a path, the file's name without .yaml / .yml last."""
    parts = [part for part in os.path.normpath(source).split(os.sep) if part not in ("", ".")]
    last = parts[-1] if parts else source
    for suffix in _SUFFIXES:
        if last.endswith(suffix):
            last = last[: -len(suffix)]
            break
    return [*parts[:-1], last]


def _path_candidates(source: str) -> set[str]:
    """The names a file alone may be picked by: any run of its path's parts (its stem, its
    directory, `a/staging`), so that a plan saved among several files, under the name
    path_names gave the file there, is applied to that file alone."""
    parts = _components(source)
    return {"/".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)}


def path_names(sources: Sequence[str], among: Sequence[str] = ()) -> dict[str, str]:
    """The name each of several files gets from its path: the shortest part that tells it
    from the others. A file that shares its directory with another is named by its stem
    (clients/acme.yaml -> acme); a file alone in its directory by the directory
    (envs/staging/hooks.yaml -> staging), since one hooks file per directory is named by where
    it lives. Where two would still have one name, directories above are added until they
    differ (a/staging, b/staging). `among`: every file of the run, named or not (default:
    `sources`), which decides whether a directory holds one file or several."""
    chosen = _first_names(sources, among or sources)
    extra = dict.fromkeys(chosen, 0)

    def name(source: str) -> str:
        parts, end = chosen[source]
        return "/".join(parts[max(0, end - extra[source]) : end + 1])

    # Only the files that still share a name take one more directory, until none do (or
    # every part of their paths is used, which tells any two different paths apart).
    for _ in range(max((len(parts) for parts, _ in chosen.values()), default=0)):
        count = Counter(name(source) for source in chosen)
        clashing = [source for source in chosen if count[name(source)] > 1]
        if not clashing:
            break
        for source in clashing:
            extra[source] += 1
    return {source: name(source) for source in chosen}


def _first_names(sources: Sequence[str], among: Sequence[str]) -> dict[str, tuple[list[str], int]]:
    """Each source's path parts and the index of the part that first names it (its stem, or
    its directory when it is alone there), before any clash adds directories above."""
    directories = Counter(os.path.dirname(os.path.normpath(path)) for path in among)
    chosen: dict[str, tuple[list[str], int]] = {}
    for source in sources:
        parts = _components(source)
        directory = os.path.dirname(os.path.normpath(source))
        by_stem = directories[directory] > 1 or len(parts) < 2
        chosen[source] = (parts, len(parts) - 1 if by_stem else len(parts) - 2)
    return chosen


def settled_names(paths: Sequence[str]) -> dict[str, str]:
    """The files of `paths` whose path name (path_names) is already final, whichever of the
    files turn out to name their own accounts, and that name: a file whose first name (one
    part) no other file of `paths` has as its first name. Such a file never clashes, so never
    takes a directory more; and no other file's name can come to equal it, since a name that
    took a directory more holds a "/". The others' names depend on which files are unnamed,
    known only once every file is read."""
    first = {source: parts[end] for source, (parts, end) in _first_names(paths, paths).items()}
    count = Counter(first.values())
    return {source: name for source, name in first.items() if count[name] == 1}


def _renamed(document: config.Document, name: str) -> config.Document:
    """`document` with its single `account:` named `name`."""
    (only,) = document.accounts
    return replace(document, accounts=(replace(only, name=name),))


def _check_name_clashes(documents: Sequence[config.Document]) -> None:
    """HookctlError naming both files when an account of one file has the name of another
    file's single account: `--account NAME`, a saved plan and the output could not tell them
    apart. Two files of `accounts:` may share names: their labels carry the file."""
    seen: dict[str, config.Document] = {}
    for document in documents:
        for name in document.account_names:
            other = seen.get(name)
            if other is not None and not (other.declares_accounts and document.declares_accounts):
                raise HookctlError(
                    f"{other.source} and {document.source} both name an account {name!r}: "
                    "give one a name of its own with `account: {name: ...}`"
                )
            seen.setdefault(name, document)


def _label(document: config.Document, account: Account, several_files: bool) -> str:
    if several_files and document.declares_accounts:
        return f"{document.source}:{account.name}"
    return account.name


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


def in_shard_of(label: str, index: int, count: int) -> bool:
    """Whether the account `label` is in shard `index` (from 0) of `count`."""
    return shard_of(label, count) == index


def in_shard(found: Sequence[Selected], index: int, count: int) -> list[Selected]:
    """The accounts of shard `index` (from 0) of `count`: the shards 0..count-1 of the same
    accounts hold each exactly once."""
    if not 0 <= index < count:
        raise ValueError(f"shard {index}/{count}: the index runs from 0 to {count - 1}")
    return [each for each in found if in_shard_of(each.label, index, count)]


def same_account(
    found: Sequence[Selected], api_url: Callable[[Account], str]
) -> list[tuple[Selected, Selected]]:
    """Pairs of selected accounts that would reach Keap at the same url with the same
    credential variable: most likely one account managed twice, where two desired states
    would undo each other's work on every apply."""
    first: dict[tuple[str, str | None, str | None, OAuthEnv | None], Selected] = {}
    pairs = []
    for each in found:
        account = each.account
        key = (api_url(account), account.api_key_env, account.access_token_env, account.oauth)
        if key in first:
            pairs.append((first[key], each))
        else:
            first[key] = each
    return pairs


class UnknownAccount(HookctlError):
    """No hooks file declares the account asked for."""


def run_each(
    found: Sequence[Selected] | Choosing, work: Callable[[Selected], T], max_workers: int = 4
) -> list[Outcome[T]]:
    """Run `work` for every selected account, at most `max_workers` at a time, and return the
    outcomes in the order of the accounts chosen. A HookctlError ends only its own account's
    work. Anything else (a bug, or Ctrl-C) propagates at once: accounts not yet started are not
    started, and those at work see check_interrupted() raise.

    `found` is the accounts, or a Choosing that still has to read them (choose with `ready`):
    then each account's work starts as soon as it is handed on, while the main thread reads
    the next files, and the others start once it returns. When it raises, the run ends in that
    error as if nothing had started: the accounts at work are stopped and waited for, and
    their results and what they logged are dropped (_HeldLogs)."""
    stop = threading.Event()

    def one(selected: Selected) -> Outcome[T]:
        CURRENT.set(selected.label)
        watch(stop)
        started = time.monotonic()
        try:
            value = work(selected)
        except HookctlError as exc:
            logger.debug("%s failed: %s", selected.label, exc)
            return Outcome(selected, error=exc, seconds=time.monotonic() - started)
        return Outcome(selected, value=value, seconds=time.monotonic() - started)

    if isinstance(found, Sequence) and len(found) == 1:
        # Same thread: a single account gains nothing from a pool, and a traceback or a
        # debugger stays simple.
        context = contextvars.copy_context()
        return [context.run(one, found[0])]
    pool = ThreadPoolExecutor(max(1, max_workers), thread_name_prefix="account")
    try:
        if isinstance(found, Sequence):
            futures = [pool.submit(contextvars.copy_context().run, one, s) for s in found]
            return [future.result() for future in futures]
        return _run_while_choosing(found, one, pool, stop)
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _run_while_choosing(
    choosing: Choosing,
    one: Callable[[Selected], Outcome[T]],
    pool: ThreadPoolExecutor,
    stop: threading.Event,
) -> list[Outcome[T]]:
    started: dict[tuple[str, str], Future[Outcome[T]]] = {}

    def start(selected: Selected) -> None:
        started[_key(selected)] = pool.submit(contextvars.copy_context().run, one, selected)

    with _HeldLogs() as held:
        try:
            chosen = choosing(start)
        except HookctlError:
            # Bad input: the run ends as if nothing had been sent (only reads were). The
            # accounts at work stop at their next check, and are waited for (each call is
            # bounded) so that nothing they log comes after the error.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            held.drop()
            raise
    for selected in chosen:
        if _key(selected) not in started:
            start(selected)
    # The Selected chosen, equal to the one handed on, so that callers get choose's list.
    return [replace(started[_key(each)].result(), selected=each) for each in chosen]


def _key(selected: Selected) -> tuple[str, str]:
    """What tells the accounts of a run apart: a label is unique within a file."""
    return selected.source, selected.label


class _Holding(logging.Filter):
    """On one handler, holds back the records of accounts' threads (CURRENT set) until
    released; the main thread's (the files' own warnings) pass."""

    def __init__(self, handler: logging.Handler) -> None:
        super().__init__()
        self.handler = handler
        self._lock = threading.Lock()
        self._held: list[tuple[str, logging.LogRecord]] | None = []

    def filter(self, record: logging.LogRecord) -> bool:
        label = CURRENT.get()
        if label is None:
            return True
        with self._lock:
            if self._held is None:
                return True
            self._held.append((label, record))
            return False

    def release(self, show: bool) -> None:
        """Let records through from now on; those held go out first when `show`, each in
        its account's context, so that filters see what they would have seen then."""
        with self._lock:
            held, self._held = self._held or [], None
        for label, record in held if show else ():
            context = contextvars.copy_context()
            context.run(_handle_as, label, self.handler, record)


def _handle_as(label: str, handler: logging.Handler, record: logging.LogRecord) -> None:
    CURRENT.set(label)
    handler.handle(record)


class _HeldLogs:
    """While a run still reads its files, what its accounts already at work log is held back:
    a run that ends in a file's error shows that error alone, as when nothing had started.
    When reading ends well, the records go out in the order they came."""

    def __init__(self) -> None:
        self._holding = [_Holding(handler) for handler in logging.getLogger().handlers]
        self._dropped = False

    def __enter__(self) -> _HeldLogs:
        for holding in self._holding:
            holding.handler.addFilter(holding)
        return self

    def drop(self) -> None:
        self._dropped = True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for holding in self._holding:
            holding.release(show=kind is None and not self._dropped)
            holding.handler.removeFilter(holding)
