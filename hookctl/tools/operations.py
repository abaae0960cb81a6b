"""One account, directly: the one-subscription-at-a-time operations of `hookctl hooks`, and the
hooks file `hookctl import` makes of what an account holds. Each takes a client the runner
built (hookctl.runner.client) and returns what it got; nothing here prints.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypeAlias

from hookctl import config
from hookctl.domain.models import Account, DesiredState, Hook, event_glob_matches
from hookctl.domain.planner import Plan, plan
from hookctl.errors import ConfigError, HookctlError
from hookctl.keap.client import DEFAULT_ACCESS_TOKEN_ENV, DEFAULT_API_KEY_ENV, Keap
from hookctl.tools.importer import ImportOptions, Placeholder, to_yaml, variable_scope
from hookctl.version import __version__

__all__ = ["Answer", "Imported", "Request", "adopt", "perform", "schema_reference"]

# Where editors fetch hooks.schema.json for a file outside a checkout of hookctl: this
# version's copy (the format a file written now follows), unless `import --schema` says where.
SCHEMA_URL = (
    f"https://raw.githubusercontent.com/hookctl/hookctl/v{__version__}/schemas/hooks.schema.json"
)

logger = logging.getLogger(__name__)

# A subscription, a listing, the event keys, or nothing (a deletion).
Result: TypeAlias = Hook | list[Hook] | list[str] | None


@dataclass(frozen=True)
class Request:
    """One `hookctl hooks` operation and what it names."""

    operation: str  # types, list, get, create, update, delete or verify
    key: str | None = None
    event_key: str | None = None
    hook_url: str | None = None
    # verify: delayed verification with the X-Hook-Secret the receiver was sent.
    secret: str | None = None
    # list: only the subscriptions with this status, an event key this glob (the hooks.yaml
    # meaning) matches, and a url this shell-style glob matches.
    status: str | None = None
    event: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Answer:
    """What an operation got from Keap; for a listing, `total` is how many the account holds
    before the filters."""

    result: Result
    total: int = 0


def perform(keap: Keap, request: Request) -> Answer:
    """Carry out one operation. A subscription that a create, update or verify leaves
    unverified is logged as a warning: Keap sends it nothing until its receiver answers."""
    op, key = request.operation, request.key or ""
    if op == "types":
        return Answer(keap.event_types())
    if op == "list":
        listed = keap.list()
        shown = [
            hook
            for hook in listed
            if (not request.status or hook.status == request.status)
            and (not request.event or event_glob_matches(request.event, hook.event_key))
            and (not request.url or fnmatch.fnmatchcase(hook.hook_url, request.url))
        ]
        return Answer(shown, len(listed))
    if op == "get":
        return Answer(keap.get(key))
    if op == "delete":
        keap.delete(key)
        return Answer(None)
    if op == "create":
        hook = keap.create(request.event_key or "", request.hook_url or "")
    elif op == "update":
        hook = keap.update(key, request.event_key or "", request.hook_url or "")
    elif op == "verify":
        hook = keap.delayed_verify(key, request.secret) if request.secret else keap.verify(key)
    else:
        raise ValueError(f"no hooks operation {op!r}")
    if hook.status != "Verified":
        logger.warning(
            "subscription %s is %s: Keap sends it no events until its receiver answers the "
            "handshake (HTTP 200 echoing X-Hook-Secret); fix the receiver and run `hookctl "
            "hooks verify %s`, or give the secret it got: "
            "`hookctl hooks verify %s --secret-env VAR`",
            hook.key,
            hook.status,
            hook.key,
            hook.key,
        )
    return Answer(hook)


@dataclass(frozen=True)
class Imported:
    """What `hookctl import` made of an account: a hooks file, what it declares, and a plan of
    it against the hooks it was made from, both with its placeholders set to the live values
    (which plan and apply then need in the environment)."""

    text: str
    desired: DesiredState
    plan: Plan
    placeholders: tuple[Placeholder, ...] = ()


def adopt(
    keap: Keap,
    *,
    source: str,
    prefixes: Sequence[str] = (),
    manage_all: bool = False,
    account: Account | None = None,
    schema: str | None = None,
) -> Imported:
    """A hooks file adopting what the account holds (see hookctl.tools.importer), named `source` in
    messages, and checked to load before it is returned. `keap` must use the credentials of
    `account` (its variables), or without it the environment's: the file names the variable
    they came from, and `account`'s name when it is not "default". `schema` overrides where
    the modeline points (schema_reference)."""
    if account is not None and (account.api_key_env or account.access_token_env):
        api_key_env, token_env = (
            account.api_key_env or DEFAULT_API_KEY_ENV,
            account.access_token_env,
        )
    else:
        # The client's own credential: picking it again would warn about it twice.
        token = keap.auth is not None and keap.auth.env_name == DEFAULT_ACCESS_TOKEN_ENV
        api_key_env, token_env = DEFAULT_API_KEY_ENV, DEFAULT_ACCESS_TOKEN_ENV if token else None
    live = keap.list()
    name = account.name if account is not None and account.name != "default" else None
    options = ImportOptions(
        api_url=keap.api_url,
        now=datetime.now(timezone.utc),
        prefixes=tuple(prefixes),
        manage_all=manage_all,
        api_key_env=api_key_env,
        access_token_env=token_env,
        account=name,
        schema=schema or schema_reference(source),
        scope=variable_scope(name, source),
    )
    written = to_yaml(live, options)
    try:
        # Whatever the account holds, never hand the user a file that does not load: loaded
        # with its placeholders set to the live values, as the user is told to set them.
        document = config.read_text(written.text, source, env=written.env)
        desired = document.desired(None, keap.event_types)
    except ConfigError as exc:
        raise HookctlError(
            f"hookctl import made a file that does not load (please report this):\n{exc}"
        ) from None
    # The plan deletes extra copies at most, which the safety brake does not count.
    return Imported(written.text, desired, plan(desired, live), written.placeholders)


def schema_reference(path: str) -> str:
    """What the modeline of a hooks file written to `path` points editors at: a
    schemas/hooks.schema.json in the file's directory or one above it (a checkout of hookctl,
    or a repository that keeps a copy), relative to the file; else the schema's raw url."""
    if path in ("", "<stdout>"):
        return SCHEMA_URL
    where = os.path.dirname(os.path.realpath(path))
    folder = where
    for _ in range(32):  # bounded: a path is never deeper than this in practice
        candidate = os.path.join(folder, "schemas", "hooks.schema.json")
        if os.path.isfile(candidate):
            return os.path.relpath(candidate, where).replace(os.sep, "/")
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return SCHEMA_URL
