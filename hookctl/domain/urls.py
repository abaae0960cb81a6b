"""Url rules used by config, client, sandbox and output alike: what a usable url is, which
hosts are loopback, what part of a url is safe to show, and what a url prefix owns."""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import SplitResult, urlsplit, urlunsplit

from hookctl.domain.secrets import fingerprint, scrub

__all__ = [
    "UrlProblem",
    "UrlProblemKind",
    "address_refusal",
    "host",
    "is_loopback",
    "is_masked",
    "mask_url",
    "parse_url",
    "public_url",
    "receiver_key",
    "removed_secrets",
    "secret_parts",
    "under_prefix",
]

_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
# What mask_url puts in place of a hidden value.
_MASKED = re.compile(r"\*\*\*\([0-9a-f]{6}\)")


# Why a text is not a usable url, each in the loader's words; other callers use their own.
UrlProblemKind = Literal["malformed", "not absolute", "credentials", "port", "characters"]
_REASONS: dict[UrlProblemKind, str] = {
    "malformed": "must be an absolute http:// or https:// url",
    "not absolute": "must be an absolute http:// or https:// url",
    # The reason leaves the url out: it holds a password.
    "credentials": "must not carry credentials (user:password@host): Keap stores and shows "
    "hook urls",
    "port": "has an invalid port",
    "characters": "must not contain spaces or control characters",
}


@dataclass(frozen=True, slots=True)
class UrlProblem:
    """Why a text is not a usable absolute http(s) url. `kind` lets each caller say it in its
    own words; `reason` is the loader's."""

    kind: UrlProblemKind

    @property
    def reason(self) -> str:
        return _REASONS[self.kind]


def parse_url(url: str, *, userinfo: bool = False) -> SplitResult | UrlProblem:
    """The parts of an absolute http(s) url with a host and a valid port, free of spaces
    (Unicode's too) and control characters; else the first problem found. A `user:password@`
    part is a problem unless `userinfo` allows it. The one url check: hooks.yaml's urls (`host`),
    import's, the client's API url and the --notify url all go through it."""
    found = _parse(url, userinfo)
    return found if isinstance(found, UrlProblem) else found[0]


def host(url: str) -> str:
    """The host of an absolute http(s) url; ValueError saying why when it is not one. The
    loader's check of every url, and import's of the urls it is about to write."""
    found = _parse(url, False)
    if isinstance(found, UrlProblem):
        raise ValueError(found.reason)
    return found[1]


def _parse(url: str, userinfo: bool) -> tuple[SplitResult, str] | UrlProblem:
    """parse_url's parts and the host name (SplitResult parses it again each time it is asked,
    and a fleet's files hold tens of thousands of urls)."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return UrlProblem("malformed")
    if parts.scheme not in ("http", "https") or not hostname:
        return UrlProblem("not absolute")
    if not userinfo and "@" in parts.netloc:
        return UrlProblem("credentials")
    try:
        parts.port  # noqa: B018  (parsing the port is the check)
    except ValueError:
        return UrlProblem("port")
    if _SPACE_OR_CONTROL.search(url):
        return UrlProblem("characters")
    return parts, hostname


# A fleet's files name the same few hosts thousands of times, and parsing an address is
# most of the cost of a url's checks.
@lru_cache(maxsize=1024)
def is_loopback(hostname: str) -> bool:
    """localhost, or an address in 127.0.0.0/8 or ::1 (brackets and case allowed)."""
    name = hostname.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def address_refusal(address: str, *, loopback: bool = False) -> str | None:
    """Why hookctl will not connect to the IP `address` on a hooks file's say (probe), or
    None when it may: private, link-local (the cloud metadata service), unspecified,
    IPv4-mapped, multicast, reserved and other non-public addresses are refused, and loopback
    too unless `loopback` (a service on the runner's own loopback, such as Docker's API, is
    as private as any)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped or ip.sixtofour or ip.teredo):
        # ::ffff:169.254.169.254 and the like reach an IPv4 address by another spelling.
        return "an IPv4 address in IPv6 form"
    if ip.is_loopback:
        return None if loopback else "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return "not a public address"
    return None


def public_url(url: str) -> str:
    """The url without userinfo, query or fragment: safe to show anywhere."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid url>"
    if ":" in hostname:
        hostname = f"[{hostname}]"
    netloc = f"{hostname}:{port}" if port else hostname
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def under_prefix(url: str, prefix: str) -> bool:
    """Whether `ownership.url_prefixes` entry `prefix` owns `url`: at url boundaries, never as
    plain text, so that https://hooks.example.com owns neither hooks.example.community nor
    hooks.example.com.partner.net. Scheme, host and port must be the same; the path matches
    by whole segments (a prefix path ending in "/" owns everything below it, one that does not
    owns itself and what is below it)."""
    want = _prefix_parts(prefix)
    try:
        have = urlsplit(url)
        origin = _origin(have)
    except ValueError:
        return False
    if want is None or origin != want.origin:
        return False
    path = have.path or "/"
    inside = path.startswith(want.path if want.path.endswith("/") else want.path + "/")
    if not (inside or path == want.path):
        return False
    # A prefix that goes on past the path is taken as written.
    return url.startswith(prefix) if want.goes_on else True


@dataclass(frozen=True)
class _Prefix:
    # scheme, host, port, user, password: what a url must share with the prefix.
    origin: tuple[str, str | None, int | None, str | None, str | None]
    path: str
    goes_on: bool  # a query or fragment follows the path


# A file's few prefixes are tried against every url of the account's plan.
@lru_cache(maxsize=256)
def _prefix_parts(prefix: str) -> _Prefix | None:
    try:
        want = urlsplit(prefix)
        origin = _origin(want)
    except ValueError:
        return None
    if not want.hostname:
        return None
    return _Prefix(origin, want.path or "/", bool(want.query or want.fragment))


def _origin(parts: SplitResult) -> tuple[str, str | None, int | None, str | None, str | None]:
    """What a url must share with a prefix that owns it (ValueError for a bad port)."""
    return (parts.scheme.lower(), parts.hostname, _port(parts), parts.username, parts.password)


def _port(parts: SplitResult) -> int | None:
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())


def mask_url(url: str) -> str:
    """The url as hookctl shows it: every query value, the userinfo and the fragment replaced
    by `***` and a short fingerprint of what was hidden, `***(1f3a9c)`, so that a reviewer sees
    that a token changed without seeing the token. Receivers commonly authenticate Keap by a
    secret in the query (`?token=...`), so hook urls are treated as credentials-bearing.

    The fingerprint is 24 bits of an HMAC keyed with a secret the reader of a plan does not
    have (hookctl.domain.secrets), so that it confirms no guess, however short the token.
    Every value hooks.yaml interpolated from the environment is hidden too, wherever it is in
    the url (path, host), since a receiver may take its token in the path."""
    url = scrub(url)
    if "?" not in url and "#" not in url and "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        netloc = f"{_hidden(userinfo)}@{hostport}"
    query = (
        "&".join(_mask_parameter(item) for item in parts.query.split("&")) if parts.query else ""
    )
    fragment = _hidden(parts.fragment) if parts.fragment else ""
    masked = urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
    # urlunsplit drops an empty "?" or "#": keep what the url had, so the shape is the same.
    if parts.query == "" and "?" in url.split("#", 1)[0] and "?" not in masked:
        masked = masked.replace("#", "?#", 1) if "#" in masked else masked + "?"
    return masked


def is_masked(url: str) -> bool:
    """Whether `url` holds a value mask_url hid: such a url is for people, never for Keap."""
    return "***(" in url and _MASKED.search(url) is not None


def _mask_parameter(item: str) -> str:
    name, eq, value = item.partition("=")
    if not eq:
        return _hidden(name) if name else name
    return f"{name}={_hidden(value)}" if value else item


def _hidden(value: str) -> str:
    if _MASKED.fullmatch(value):
        # Already masked (a url read back from a saved plan, or shown twice): masking again
        # would show the fingerprint of a fingerprint.
        return value
    return f"***({fingerprint(value)})"


def secret_parts(url: str) -> dict[str, str]:
    """The parts of `url` that mask_url hides, by a name for people: `query value token`,
    `query item 2` (a bare `?TOKEN`), `userinfo`, `fragment`; empty values included."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return {}
    found: dict[str, str] = {}
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        found["userinfo"] = userinfo
    if parts.query or "?" in url.split("#", 1)[0]:
        for index, item in enumerate(parts.query.split("&"), 1):
            name, eq, value = item.partition("=")
            if eq:
                found[f"query value {name}"] = value
            elif name:
                found[f"query item {index}"] = name
    if "#" in url:
        found["fragment"] = parts.fragment
    return found


@functools.lru_cache(maxsize=1 << 16)  # the planner asks for each url several times
def receiver_key(url: str) -> str:
    """What two urls share when they differ only in the values mask_url hides (a rotated
    token): the public url, the names of the query parameters, and whether there is a
    userinfo and a fragment. A url and its rotation are one receiver, and so one hooks.yaml
    entry."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    names = [item.partition("=")[0] for item in parts.query.split("&") if "=" in item]
    # Which parts there are counts: a url with a password is not a rotation of one without
    # (hooks.yaml cannot declare userinfo, so such a url is never a declared one's).
    shape = ("@" if "@" in parts.netloc else "") + ("#" if "#" in url else "")
    return f"{shape}{public_url(url)}?{'&'.join(names)}"


def removed_secrets(old: str, new: str) -> tuple[str, ...]:
    """The hidden parts (secret_parts' names) that `old` has with a value and `new`, the same
    receiver (same public url), has empty or not at all: what would blank a receiver's
    token. Empty when the receiver changes, since a new receiver has its own secrets."""
    if public_url(old) != public_url(new):
        return ()
    kept = secret_parts(new)
    return tuple(name for name, value in secret_parts(old).items() if value and not kept.get(name))
