"""OAuth2 as Keap runs it: access tokens that live 24 hours, and a refresh token that is good
for ONE refresh (each refresh answers a new pair and kills the old refresh token).

The pair is kept in a token file (KEAP_TOKEN_FILE, by default under the user's config
directory), mode 0600, replaced atomically after every refresh. KEAP_REFRESH_TOKEN only seeds
it: once the file exists it wins, since the environment's token was spent by the first
refresh. A refresh happens when the kept access token is expired or near expiry, and once on a
401 (see hookctl.keap.auth). Two processes (or two accounts sharing a file) must never refresh with
the same token, so a refresh takes an exclusive lock on a lock file beside the token file and
reads the file again under it: whoever comes second finds the pair the first one stored.

The token file and its lock are trusted only when they are plain files (a symlink is refused,
never followed or replaced), owned by the user and writable by nobody else. The temporary file
of the new pair is created before the token endpoint is called, so that a directory hookctl
cannot write to fails before a single-use refresh token is spent; if writing the pair fails
after all (a full disk), the pair is kept for the run and the user told the grant is at risk.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import os
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from hookctl.domain.models import OAuthEnv
from hookctl.domain.urls import is_loopback
from hookctl.errors import AuthenticationError, HookctlError
from hookctl.keap.auth import BearerAuth, clean_secret, redact
from hookctl.system.files import PendingWrite, begin_write, read_bounded
from hookctl.system.interrupts import check_interrupted

__all__ = [
    "AUTHORIZE_URL",
    "DEFAULT_TOKEN_URL",
    "OAuthAuth",
    "OAuthEnv",
    "TokenSet",
    "authorize_url",
    "catch_redirect",
    "default_token_file",
    "expiry_text",
    "oauth_from_env",
]

logger = logging.getLogger(__name__)

DEFAULT_TOKEN_URL = "https://api.infusionsoft.com/token"
AUTHORIZE_URL = "https://accounts.infusionsoft.com/app/oauth/authorize"
TOKEN_URL_ENV = "KEAP_TOKEN_URL"
AUTHORIZE_URL_ENV = "KEAP_AUTHORIZE_URL"
# Renew this long before the access token expires (at most a tenth of its life), so that a
# call never goes out with a token about to die on the way.
RENEW_MARGIN = 300.0
# The longest wait for another process's refresh (the lock), and for the token endpoint.
LOCK_TIMEOUT = 60.0
TOKEN_TIMEOUT = (5.0, 30.0)
# The whole answer of the token endpoint, however it trickles in, within this long.
TOKEN_DEADLINE = 30.0
_MAX_TOKEN_FILE = 64 * 1024
_LOGIN_HINT = "run `hookctl auth login` to authorize again (it writes a new token file)"


@dataclass(frozen=True, slots=True)
class TokenSet:
    """An access token, the refresh token that renews it, and when the access token expires
    (epoch seconds; 0: unknown, treated as expired)."""

    access_token: str
    refresh_token: str
    expires_at: float
    lifetime: float

    def fresh(self, now: float) -> bool:
        margin = min(RENEW_MARGIN, self.lifetime / 10)
        return bool(self.access_token) and now < self.expires_at - margin

    def to_json(self) -> str:
        data = {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "lifetime": self.lifetime,
        }
        return json.dumps(data, indent=2) + "\n"


def default_token_file(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "hookctl" / "keap-token.json"


def oauth_from_env(env: Mapping[str, str], names: OAuthEnv | None = None) -> OAuthAuth | None:
    """An OAuth credential when the environment holds an app's client id and secret and a
    refresh token or a token file to start from; None otherwise."""
    names = names or OAuthEnv()
    client_id, secret = env.get(names.client_id_env), env.get(names.client_secret_env)
    if not client_id or not secret:
        return None
    token_file = Path(env.get(names.token_file_env) or default_token_file(env))
    seed = env.get(names.refresh_token_env) or None
    if seed is None and not token_file.exists():
        return None
    token_url = env.get(TOKEN_URL_ENV) or DEFAULT_TOKEN_URL
    return OAuthAuth(client_id, secret, token_file, token_url, seed, names)


class OAuthAuth(BearerAuth):
    """A Bearer token renewed through Keap's token endpoint, kept in `token_file`."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        token_file: Path,
        token_url: str = DEFAULT_TOKEN_URL,
        seed: str | None = None,
        names: OAuthEnv | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock` (epoch seconds) says when a kept access token has expired."""
        self.names = names or OAuthEnv()
        self._clock = clock
        super().__init__("", self.names.client_id_env)
        self._client_id, self._client_secret = client_id, client_secret
        self.app_id = client_id
        self.token_file = token_file
        self.token_url = token_url
        self._seed = seed
        self._lock = threading.Lock()
        self._local = threading.local()
        self._tokens: TokenSet | None = None
        # Every token value seen, so that a text quoting an old one is redacted too.
        self._seen: set[str] = {client_secret, *([seed] if seed else [])}
        self.refreshes = 0

    # -- what the transport calls --------------------------------------------------------------

    def header_value(self) -> str:
        with self._lock:
            tokens = self._tokens
            if tokens is None or not tokens.fresh(self._clock()):
                tokens = self._renew(refused=None)
        self._local.sent = tokens.access_token
        return f"Bearer {tokens.access_token}"

    def refresh(self) -> bool:
        """After a 401: renew, unless another thread already did since this one's request."""
        refused = getattr(self._local, "sent", None)
        with self._lock:
            if self._tokens is not None and self._tokens.access_token != refused:
                return True
            self._renew(refused=refused)
        return True

    def redact(self, text: str) -> str:
        values = set(self._seen)
        if self._tokens is not None:
            values |= {self._tokens.access_token, self._tokens.refresh_token}
        return redact(text, values)

    @property
    def hint(self) -> str:
        return f"check ${self.names.client_id_env} and the token file {self.token_file}"

    def __repr__(self) -> str:
        return f"<OAuth credentials of ${self.names.client_id_env}>"

    # -- status and renewal --------------------------------------------------------------------

    def kept(self) -> TokenSet | None:
        """The pair in the token file (None when there is none)."""
        return _read(self.token_file)

    def renew(self) -> TokenSet:
        """Refresh now, whatever the kept access token's expiry (`hookctl auth refresh`)."""
        with self._lock:
            return self._renew(refused=None, force=True)

    def _renew(self, refused: str | None, force: bool = False) -> TokenSet:
        with _locked(self.token_file):
            # Another process may have refreshed while we waited for the lock: its pair is the
            # only one still good, and the refresh token we hold is spent.
            kept = _read(self.token_file)
            usable = kept is not None and kept.access_token != refused
            if kept is not None and usable and not force and kept.fresh(self._clock()):
                self._keep(kept)
                return kept
            refresh_token = kept.refresh_token if kept is not None else self._seed
            if not refresh_token:
                raise AuthenticationError(
                    "POST",
                    "/token",
                    None,
                    "no refresh token to renew the access token with",
                    f"set ${self.names.refresh_token_env}, or {_LOGIN_HINT}",
                )
            source = (
                str(self.token_file) if kept is not None else f"${self.names.refresh_token_env}"
            )
            self._seen.add(refresh_token)
            pending = _begin_store(self.token_file)
            try:
                tokens = self._call(
                    {"grant_type": "refresh_token", "refresh_token": refresh_token}, source
                )
            except BaseException:
                pending.discard()
                raise
            _store(pending, tokens)
        self.refreshes += 1
        logger.info("OAuth access token renewed; the new pair is kept in %s", self.token_file)
        self._keep(tokens)
        return tokens

    def exchange(self, code: str, redirect_uri: str) -> TokenSet:
        """The authorization code flow's last step: a code for a pair, stored."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        with self._lock, _locked(self.token_file):
            pending = _begin_store(self.token_file)
            try:
                tokens = self._call(form, "the authorization code")
            except BaseException:
                pending.discard()
                raise
            _store(pending, tokens)
        self._keep(tokens)
        return tokens

    def _keep(self, tokens: TokenSet) -> None:
        self._tokens = tokens
        self._seen |= {tokens.access_token, tokens.refresh_token}

    def _call(self, form: dict[str, str], source: str) -> TokenSet:
        check_interrupted()
        try:
            response = requests.post(
                self.token_url,
                data=form,
                auth=(self._client_id, self._client_secret),
                timeout=TOKEN_TIMEOUT,
                allow_redirects=False,
                stream=True,
            )
            with response:
                raw = _bounded_body(response)
        except (requests.RequestException, TimeoutError) as exc:
            raise AuthenticationError(
                "POST",
                "/token",
                None,
                f"the token endpoint did not answer ({type(exc).__name__})",
                f"is {self.token_url} reachable? set ${TOKEN_URL_ENV}",
            ) from None
        body = _json(raw)
        if response.status_code == 200 and isinstance(body.get("access_token"), str):
            lifetime = _number(body.get("expires_in"), 86400.0)
            refresh = body.get("refresh_token")
            tokens = TokenSet(
                body["access_token"],
                refresh if isinstance(refresh, str) and refresh else form.get("refresh_token", ""),
                self._clock() + lifetime,
                lifetime,
            )
            self._seen |= {tokens.access_token, tokens.refresh_token}
            _check_tokens(tokens, "the token endpoint's answer")
            return tokens
        if response.status_code == 200:
            raise AuthenticationError(
                "POST",
                "/token",
                200,
                "the token endpoint answered 200 without an access token (not an OAuth answer)",
                f"is {self.token_url} Keap's token endpoint? check ${TOKEN_URL_ENV}",
            )
        error = body.get("error") if isinstance(body.get("error"), str) else ""
        if error == "invalid_grant":
            raise AuthenticationError(
                "POST",
                "/token",
                response.status_code,
                f"invalid_grant: the refresh token from {source} was spent by an earlier "
                "refresh or has expired",
                _LOGIN_HINT,
            )
        said = self.redact(str(error or body.get("message") or response.reason or ""))[:200]
        raise AuthenticationError(
            "POST",
            "/token",
            response.status_code,
            f"the token endpoint refused: {said}",
            f"check ${self.names.client_id_env} and ${self.names.client_secret_env}",
        )


def expiry_text(tokens: TokenSet) -> str:
    when = datetime.fromtimestamp(tokens.expires_at, timezone.utc)
    return f"{when:%Y-%m-%d %H:%M:%S} UTC"


@contextlib.contextmanager
def _locked(token_file: Path) -> Iterator[None]:
    """An exclusive lock on the lock file beside `token_file`, waited for LOCK_TIMEOUT at most."""
    token_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock_path = token_file.with_name(token_file.name + ".lock")
    try:
        # O_NOFOLLOW: a planted symlink must not make the lock create a file where it points.
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise HookctlError(
            f"{lock_path}: cannot open the token lock file: {exc.strerror}"
            + (" (a symlink? hookctl does not follow one)" if os.path.islink(lock_path) else "")
        ) from None
    try:
        _check_owned(lock_path, os.fstat(fd), "token lock file")
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            if _try_lock(fd):
                break
            if time.monotonic() > deadline:
                raise HookctlError(
                    f"{lock_path}: another process has held the token lock for "
                    f"{LOCK_TIMEOUT:g} s; is a refresh stuck?"
                ) from None
            check_interrupted()
            time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on `fd` if no other process holds it. The platform's lock is
    imported here, where a token file is written, so that a client with an API key or an
    access token works where fcntl does not exist."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read(token_file: Path) -> TokenSet | None:
    try:
        if stat.S_ISLNK(os.lstat(token_file).st_mode):
            raise HookctlError(
                f"{token_file}: a symlink: hookctl neither follows nor replaces a token file "
                "that is one (point KEAP_TOKEN_FILE at the file itself)"
            )
        raw = read_bounded(
            token_file,
            _MAX_TOKEN_FILE,
            follow_symlinks=False,
            check=lambda info: _check_owned(token_file, info, "token file"),
        )
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise HookctlError(f"{token_file}: cannot read the token file: {exc.strerror}") from None
    data = _json(raw)
    access, refresh = data.get("access_token"), data.get("refresh_token")
    if len(raw) > _MAX_TOKEN_FILE or not isinstance(refresh, str) or not refresh:
        raise HookctlError(
            f"{token_file}: not a token file hookctl wrote (no refresh_token); {_LOGIN_HINT}"
        )
    tokens = TokenSet(
        access if isinstance(access, str) else "",
        refresh,
        _number(data.get("expires_at"), 0.0),
        _number(data.get("lifetime"), 86400.0),
    )
    _check_tokens(tokens, str(token_file))
    return tokens


def _check_owned(path: Path, info: os.stat_result, what: str) -> None:
    """HookctlError unless `info` (of `path`) is a plain file of this user that nobody else can
    write: another user's file, or a 0666 one in a shared directory, could hold their tokens."""
    if not stat.S_ISREG(info.st_mode):
        raise HookctlError(f"{path}: the {what} is not a plain file")
    getuid = getattr(os, "geteuid", None)
    if getuid is None:
        return  # Windows: no owners or modes of this kind
    if info.st_uid != getuid():
        raise HookctlError(f"{path}: owned by another user: hookctl does not use this {what}")
    if info.st_mode & 0o022:
        raise HookctlError(
            f"{path}: writable by others: hookctl does not use this {what} (chmod 600 it if it "
            "is yours)"
        )


def _check_tokens(tokens: TokenSet, source: str) -> None:
    """Every token must go in a header as KEAP_ACCESS_TOKEN must: one line naming `source`,
    never the value, otherwise."""
    values = (("access token", tokens.access_token), ("refresh token", tokens.refresh_token))
    for name, value in values:
        if value:
            clean_secret(value, f"the {name} from {source}")


def _bounded_body(response: requests.Response) -> bytes:
    """At most _MAX_TOKEN_FILE + 1 bytes of the answer, read within TOKEN_DEADLINE: a huge or
    drip-fed answer is cut or ends in TimeoutError, never read whole."""
    deadline = time.monotonic() + TOKEN_DEADLINE
    raw = bytearray()
    # Small reads: a read of n bytes waits for all n, so a drip-fed answer would hold one big
    # read for n times the socket timeout; each small one is bounded by that timeout, and the
    # deadline is checked between them. A token answer is a few hundred bytes.
    for chunk in response.iter_content(64):
        raw += chunk
        if len(raw) > _MAX_TOKEN_FILE:
            break
        if time.monotonic() > deadline:
            raise TimeoutError("the token endpoint's answer took too long")
    return bytes(raw[:_MAX_TOKEN_FILE])


def _begin_store(token_file: Path) -> PendingWrite:
    if token_file.is_symlink():
        raise HookctlError(
            f"{token_file}: a symlink: hookctl neither follows nor replaces a token file that "
            "is one (point KEAP_TOKEN_FILE at the file itself)"
        )
    return begin_write(token_file, mode=0o600, what="the OAuth tokens")


def _store(pending: PendingWrite, tokens: TokenSet) -> None:
    """Write the new pair; if that fails, the pair is kept for the run and the failure said."""
    try:
        pending.commit(tokens.to_json())
        # The umask may take bits away, never add them; a file there keeps nothing wider.
        os.chmod(pending.target, 0o600)
    except (HookctlError, OSError) as exc:
        logger.error(
            "%s; the new OAuth tokens are kept for this run only, and the refresh token in "
            "the file was spent: the grant is at risk, the next run will need `hookctl auth "
            "login` (free the space first)",
            exc,
        )


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _number(value: object, default: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e12:
        return float(value)
    return default


def authorize_url(env: Mapping[str, str], client_id: str, redirect_uri: str, state: str) -> str:
    """Where the user signs in and allows the app (the authorization code flow's first step)."""
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "full",
            "state": state,
        }
    )
    return f"{env.get(AUTHORIZE_URL_ENV) or AUTHORIZE_URL}?{query}"


def catch_redirect(redirect_uri: str, state: str, timeout: float) -> str:
    """The code Keap's redirect brings to `redirect_uri` (a loopback url), within `timeout`.
    Only a loopback address is listened on, and each connection is served in its own thread
    with a short timeout, so that an idle one (a browser's preconnect) blocks nothing."""
    parts = urlsplit(redirect_uri)
    caught: dict[str, str] = {}
    if not is_loopback(parts.hostname or ""):
        raise HookctlError(
            f"the redirect uri's host {parts.hostname or '(none)'} is not loopback: hookctl "
            "listens for the code on 127.0.0.1, [::1] or localhost only (or pass --code)"
        )

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 5

        def do_GET(self) -> None:
            query = {
                name: values[0] for name, values in parse_qs(urlsplit(self.path).query).items()
            }
            good = urlsplit(self.path).path == (parts.path or "/") and query.get("state") == state
            if good and query.get("code"):
                caught["code"] = query["code"]
            elif good and query.get("error"):
                caught["error"] = query["error"][:100]
            body = (
                b"hookctl: done, you may close this window.\n" if caught else b"not for hookctl\n"
            )
            self.send_response(200 if caught else 400)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request line holds the code

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        block_on_close = False

    host = (parts.hostname or "127.0.0.1").strip("[]")
    if ":" in host:
        Server.address_family = socket.AF_INET6
    try:
        server = Server((host, parts.port or 80), Handler)
    except OSError as exc:
        raise HookctlError(
            f"cannot listen for the redirect on {parts.netloc}: {exc.strerror}; "
            "pass the code with --code instead"
        ) from None
    deadline = time.monotonic() + timeout
    with server:
        while not caught:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HookctlError(
                    f"no redirect reached {parts.netloc} in {timeout:g} s; "
                    "run again, or pass the code with --code"
                )
            check_interrupted()
            server.timeout = min(left, 0.5)
            server.handle_request()
    if "error" in caught:
        raise HookctlError(f"Keap did not authorize the app: {caught['error']}")
    return caught["code"]
