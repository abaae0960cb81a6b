"""The result of reading a hooks file: a Document, and from it each account's DesiredState."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from hookctl.config.checks import EventTypes, check_events
from hookctl.config.interpolate import Placeholders
from hookctl.config.issues import Issues, short
from hookctl.config.source import Doc
from hookctl.domain.models import Account, DesiredState, OAuthEnv, Ownership, Safety, Subscription
from hookctl.errors import ConfigError, ConfigIssue


@dataclass(frozen=True, eq=False)
class Document:
    """A hooks file that passed every check an account's event types cannot change.

    What is left, events against the account's event types and wildcard expansion, is done per
    account by desired(): accounts may differ in the event types they offer, and each account's
    event types come from its own client, fetched in that account's own thread.
    """

    source: str
    digest: str  # sha256 of the file's bytes: a saved plan is stale when it changes
    # In file order; without `accounts:`, one, named by `account: {name:}`, else "default".
    accounts: tuple[Account, ...]
    declares_accounts: bool  # `accounts:` (named accounts) rather than `account:`
    _doc: Doc = field(repr=False)
    _urls: dict[int, str] = field(repr=False)  # hook index -> its checked url
    # hook index -> the accounts its `accounts:` names
    _entry_accounts: dict[int, frozenset[str]] = field(repr=False)
    # Variables the hooks entries use that were unset, read as stand-ins (read_text's
    # `placeholders`), by name: the file is checked, and plan will need them.
    unset: tuple[str, ...] = ()
    # hook index -> the variables its url is built with
    _variables: dict[int, tuple[str, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def checked(
        cls,
        source: str,
        raw: bytes,
        doc: Doc,
        urls: dict[int, str],
        entry_accounts: dict[int, frozenset[str]],
        found: Placeholders | None = None,
    ) -> Document:
        """The Document of a file in which the stages before the events found no problem, with
        what check_semantics and interpolation returned for it."""
        found = found or Placeholders()
        data = doc.data
        multi = "accounts" in data
        single = data.get("account") or {}
        sections = data["accounts"] if multi else {single.get("name", "default"): single}
        return cls(
            source=source,
            digest=hashlib.sha256(raw).hexdigest(),
            accounts=tuple(_account(name, settings) for name, settings in sections.items()),
            declares_accounts=multi,
            _doc=doc,
            _urls=urls,
            _entry_accounts=entry_accounts,
            unset=tuple(sorted(found.unset)),
            _variables={
                path[1]: names
                for path, names in found.used.items()
                if len(path) == 3
                and path[0] == "hooks"
                and path[2] == "url"
                and isinstance(path[1], int)
            },
        )

    @property
    def names_its_account(self) -> bool:
        """Whether a file of one account names it (`account: {name: staging}`); otherwise,
        among several files, the account is named after the file's path."""
        return not self.declares_accounts and "name" in (self._doc.data.get("account") or {})

    @property
    def account_names(self) -> tuple[str, ...]:
        return tuple(account.name for account in self.accounts)

    @property
    def entry_names(self) -> tuple[str, ...]:
        """The names of the file's hooks entries, in file order (what --target matches)."""
        return tuple(str(hook["name"]) for hook in self._doc.data["hooks"])

    def account(self, name: str | None = None) -> Account:
        """The account `name`, or the only one; ConfigError when there is no such account."""
        if name is None and len(self.accounts) == 1:
            return self.accounts[0]
        for account in self.accounts:
            if account.name == name:
                return account
        declared = ", ".join(self.account_names)
        problem = (
            f"declares several accounts ({declared}): name one"
            if name is None
            else f"has no account {short(name)} (declared: {declared})"
        )
        line, column = self._doc.mark(("accounts",), key=True) or (None, None)
        raise ConfigError([ConfigIssue(self.source, line, column, "accounts", problem)])

    def desired(self, account: str | None = None, event_types: EventTypes = None) -> DesiredState:
        """The desired state of one account: the hooks meant for it, events checked against
        `event_types` (see checks.check_events) and wildcards expanded. ConfigError when an
        event is not one of the account's."""
        chosen = self.account(account)
        issues = Issues(self.source)
        data = self._doc.data
        hooks = [
            (index, hook)
            for index, hook in enumerate(data["hooks"])
            if index not in self._entry_accounts or chosen.name in self._entry_accounts[index]
        ]
        subscriptions = check_events(self._doc, hooks, self._urls, event_types, issues)
        if issues:
            raise issues.error()
        return _desired_state(
            data, chosen, subscriptions, self.source, self.digest, self._variables
        )


def _account(name: str, section: dict[str, Any]) -> Account:
    credentials = section.get("credentials", {})
    oauth = credentials.get("oauth")
    return Account(
        name=name,
        api_url=section.get("api_url"),
        api_key_env=credentials.get("api_key_env"),
        access_token_env=credentials.get("access_token_env"),
        # The variables it does not name keep their defaults (KEAP_CLIENT_ID and the rest).
        oauth=OAuthEnv(**oauth) if isinstance(oauth, dict) else None,
    )


def _desired_state(
    data: dict[str, Any],
    account: Account,
    subscriptions: set[Subscription],
    source: str,
    digest: str,
    variables: dict[int, tuple[str, ...]],
) -> DesiredState:
    """Assemble the result from data that passed every check."""
    ownership = data.get("ownership", {})
    safety = data.get("safety", {})
    defaults = Safety()
    hooks = data["hooks"]
    return DesiredState(
        subscriptions=frozenset(subscriptions),
        ownership=Ownership(
            # Every url of the file, whichever accounts its entry names: taking an account off
            # an entry must delete that entry's subscriptions there, not leave them unmanaged.
            declared_urls=frozenset(hook["url"] for hook in data["hooks"]),
            url_prefixes=tuple(ownership.get("url_prefixes", ())),
            ignore=tuple(ownership.get("ignore", ())),
            all=ownership.get("all", False),
        ),
        account=account,
        safety=Safety(
            min_existing=safety.get("min_existing", defaults.min_existing),
            max_update_ratio=float(safety.get("max_update_ratio", defaults.max_update_ratio)),
            max_delete_ratio=float(safety.get("max_delete_ratio", defaults.max_delete_ratio)),
            url_stripping=frozenset(
                str(hook["name"]) for hook in hooks if hook.get("allow_url_stripping") is True
            ),
            url_variables=tuple(
                (str(hooks[index]["name"]), names) for index, names in sorted(variables.items())
            ),
        ),
        source=source,
        digest=digest,
    )
