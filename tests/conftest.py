"""Shared fixtures: a fresh sandbox per test, its API key, the Keap OpenAPI checker, and the
end-to-end CLI tests' sandbox, hooks.yaml and terminals (their helpers are in helpers.cli)."""

from __future__ import annotations

import copy
import http.server
import importlib.util
import json
import logging
import os
import socketserver
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _use_the_checkout() -> bool:
    """Make a plain checkout testable without installing it; True when the hookctl under test
    is this checkout's (installed in editable mode, or not installed at all).

    `pytest` (unlike `python -m pytest`) does not put the checkout on sys.path, and the checkout
    has no hookctl.schemas package: setuptools maps schemas/ to it only when it installs hookctl
    (pyproject's package-dir). Tests read the schemas as hookctl.schemas, as users' code would,
    and must read this checkout's even when another checkout is installed in editable mode."""
    if importlib.util.find_spec("hookctl") is None:
        sys.path.insert(0, str(ROOT))
    import hookctl

    if Path(hookctl.__file__).resolve().parents[1] != ROOT:
        return False  # an installed copy, with its own hookctl.schemas
    init = ROOT / "schemas" / "__init__.py"
    found = importlib.util.find_spec("hookctl.schemas")
    if found is None or found.origin is None or Path(found.origin).resolve() != init:
        spec = importlib.util.spec_from_file_location(
            "hookctl.schemas", init, submodule_search_locations=[str(init.parent)]
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return True


FROM_CHECKOUT = _use_the_checkout()

from helpers.cli import CLOSED_PORT, TWO, Cli, Terminal, Tty, write_config  # noqa: E402
from helpers.witness import Witness  # noqa: E402

from hookctl.domain import secrets  # noqa: E402
from hookctl.keap.client import RetryPolicy  # noqa: E402
from hookctl.sandbox import Sandbox, SandboxSettings  # noqa: E402
from hookctl.sandbox.outbound import LOOPBACK_ONLY_ENV  # noqa: E402

API_KEY = "sbx-test-key-4f2c9e71d0"
# Keap's own definition of the hooks endpoints, as shared beside the repository; the copy in
# tests/data keeps the checks running in a clone that has no shared/ beside it, and
# test_the_copy_of_keaps_openapi_file_is_current keeps the copy honest.
SHARED_OPENAPI = Path(__file__).resolve().parents[2] / "shared" / "keap" / "hooks-openapi.yaml"
COPIED_OPENAPI = Path(__file__).resolve().parent / "data" / "hooks-openapi.yaml"
OPENAPI = SHARED_OPENAPI if SHARED_OPENAPI.is_file() else COPIED_OPENAPI


# The lanes: a test's folder is its marker, so `pytest -m unit` (or `pytest tests/unit`) runs
# the pure code alone, `-m "not release"` everything but packaging and tooling.
LANES = ("unit", "e2e", "release")


# The fixtures that start a server: a unit test may use none of them (that is what keeps the
# unit lane fast and free of sockets); a test that needs one belongs in tests/e2e/.
SERVERS = frozenset({"sandbox", "env", "config", "api", "receiver", "unreachable_api"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        lane = Path(item.path).resolve().relative_to(ROOT / "tests").parts[0]
        if lane in LANES:
            item.add_marker(getattr(pytest.mark, lane))
        servers = SERVERS & set(getattr(item, "fixturenames", ()))
        if lane == "unit" and servers:
            raise pytest.UsageError(
                f"{item.nodeid} starts a server ({', '.join(sorted(servers))}): "
                "move it to tests/e2e/"
            )


@pytest.fixture(scope="session", autouse=True)
def _no_real_hosts() -> Iterator[None]:
    """No test reaches a real host: the client's default API is a closed loopback port, no
    credential leaks in from the developer's shell, no proxy reroutes loopback calls, and the
    sandbox treats hookUrls on other hosts as unreachable instead of calling them."""
    with pytest.MonkeyPatch.context() as patch:
        oauth = ("KEAP_CLIENT_ID", "KEAP_CLIENT_SECRET", "KEAP_REFRESH_TOKEN", "KEAP_TOKEN_FILE")
        proxies = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
        for name in ("KEAP_API_KEY", "KEAP_ACCESS_TOKEN", *oauth, *proxies):
            patch.delenv(name, raising=False)
            patch.delenv(name.lower(), raising=False)
        patch.setenv("NO_PROXY", "*")
        patch.setenv("KEAP_API_URL", CLOSED_PORT)
        patch.setenv(LOOPBACK_ONLY_ENV, "1")
        # A test's own loopback server whose client hung up prints a traceback on stderr from
        # its thread, at whatever moment, into whichever test's capsys is reading then: the
        # servers' errors are not what any test checks, so they go to the debug log instead.
        patch.setattr(socketserver.BaseServer, "handle_error", _quiet_server_error)
        yield


@pytest.fixture(autouse=True)
def _values_hidden_per_test() -> None:
    """Each test starts a run of its own: the values an earlier test interpolated are no longer
    hidden from this one's output (as each hookctl command starts afresh)."""
    secrets.start_run(os.environ)


def _quiet_server_error(self: socketserver.BaseServer, request: Any, address: Any) -> None:
    logging.getLogger("tests.servers").debug("error serving %s", address, exc_info=True)


@pytest.fixture(scope="session", autouse=True)
def _children_import_this_checkout() -> Iterator[None]:
    """Child processes (`python -m hookctl`, bench/run.py) import the hookctl under test, from
    any working directory and whether or not hookctl is installed."""
    with pytest.MonkeyPatch.context() as patch:
        if FROM_CHECKOUT:
            paths = (str(ROOT), os.environ.get("PYTHONPATH", ""))
            patch.setenv("PYTHONPATH", os.pathsep.join(path for path in paths if path))
        yield


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY


@pytest.fixture
def sandbox(api_key: str) -> Iterator[Sandbox]:
    """A fresh in-memory sandbox on an ephemeral loopback port (starts in a few ms).

    Keap's delivery delays run 10,000 times faster than real ones (the 30-minute retry
    takes 0.18 s), so retry tests finish quickly."""
    with Sandbox(SandboxSettings(api_key=api_key, time_scale=1e-4)) as sb:
        yield sb


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A chat-webhook stand-in on loopback that records every JSON body posted to it."""
    bodies: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(200 if "fail" not in self.path else 500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/hook-token", bodies
    server.shutdown()
    server.server_close()


class Api:
    """Plain HTTP against a sandbox's Keap API with the test key (no hookctl client involved)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["X-Keap-API-Key"] = api_key

    def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> requests.Response:
        return self.session.request(
            method, self.base_url + path, json=json, data=data, headers=headers, timeout=10
        )

    def create(self, event_key: str, hook_url: str) -> dict[str, Any]:
        response = self.call("POST", "/hooks", {"eventKey": event_key, "hookUrl": hook_url})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def api(sandbox: Sandbox, api_key: str) -> Iterator[Api]:
    client = Api(sandbox.api_url, api_key)
    yield client
    client.session.close()


class KeapOpenAPI:
    """Checks an answer against what hooks-openapi.yaml declares for the operation."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = copy.deepcopy(document)
        # The spec marks no property required, so {} would pass as a RestHook. Keap always sends
        # all four fields and nothing else, so the check holds the sandbox to that.
        rest_hook = self.document["components"]["schemas"]["RestHook"]
        rest_hook["required"] = sorted(rest_hook["properties"])
        rest_hook["additionalProperties"] = False

    def declared_statuses(self, method: str, template: str) -> set[int]:
        return {int(status) for status in self._operation(method, template)["responses"]}

    def check(self, response: requests.Response, method: str, template: str) -> None:
        """template is the path below /crm/rest/v1 as the spec names it, e.g. /hooks/{key}."""
        status = response.status_code
        declared = self._operation(method, template)["responses"].get(str(status))
        assert declared is not None, f"{method} {template}: {status} is not declared"
        if "$ref" in declared:
            declared = self._resolve(declared["$ref"])
        content = declared.get("content")
        if content is None:
            assert response.content == b"", f"{method} {template}: {status} declares no body"
            return
        assert response.headers["Content-Type"].startswith("application/json")
        schema = {
            **content["application/json"]["schema"],
            "components": self.document["components"],
        }
        jsonschema.Draft4Validator(schema).validate(response.json())

    def _operation(self, method: str, template: str) -> dict[str, Any]:
        operation: dict[str, Any] = self.document["paths"]["/v1" + template][method.lower()]
        return operation

    def _resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        result: dict[str, Any] = node
        return result


@pytest.fixture(scope="session")
def keap_openapi() -> KeapOpenAPI:
    return KeapOpenAPI(yaml.safe_load(OPENAPI.read_text(encoding="utf-8")))


# -- the end-to-end CLI tests -------------------------------------------------------------------


@pytest.fixture
def env(sandbox: Sandbox, api_key: str, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The sandbox, with the environment hookctl reads pointed at it."""
    monkeypatch.setenv("KEAP_API_URL", sandbox.api_url)
    monkeypatch.setenv("KEAP_API_KEY", api_key)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return sandbox


@pytest.fixture
def config(env: Sandbox, tmp_path: Path) -> Path:
    """tmp_path/hooks.yaml declaring TWO (three subscriptions) under env's receiver."""
    return write_config(tmp_path, env, TWO)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's retry rules are tested in test_client_operations_errors_and_faults; one
    quick retry keeps the rest fast."""
    # Imported here, so that a change to the client fails the tests that use it, not them all.
    from functools import partial

    import hookctl.keap.client

    policy = partial(hookctl.keap.client.RetryPolicy, backoff_base=0.01)
    monkeypatch.setattr(hookctl.keap.client, "RetryPolicy", policy)


@pytest.fixture
def unreachable_api(env: Sandbox, fast_retries: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """KEAP_API_URL on a port that refuses connections (CLOSED_PORT) instead of env's sandbox,
    which still runs for the test to look at."""
    monkeypatch.setenv("KEAP_API_URL", CLOSED_PORT)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The one way the tests run hookctl in-process: `cli.run("plan", "-f", path, status=2)`
    returns a Result (out, err, status). Run it after `env`/`config` so that it talks to the
    test's sandbox; `tty` makes its stdout or stdin a terminal."""
    return Cli(capsys, monkeypatch)


@pytest.fixture
def tty(monkeypatch: pytest.MonkeyPatch) -> Tty:
    """tty("sys.stdout") puts a fresh Terminal in place of sys.stdout and returns it;
    tty("sys.stdin", "yes\\n") one that answers "yes"."""

    def install(stream: str, typed: str = "") -> Terminal:
        terminal = Terminal(typed)
        monkeypatch.setattr(stream, terminal)
        return terminal

    return install


@pytest.fixture
def witness(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[Witness]:
    # main() replaces the root logger's handlers, so the records are kept below it.
    seen = Witness(cli)
    loggers = [logging.getLogger(name) for name in ("hookctl", "urllib3")]
    for logger in loggers:
        logger.addHandler(seen.records)
    # Retries back off in milliseconds instead of seconds, so that failures come quickly.
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, retry_number: 0.01)
    yield seen
    for logger in loggers:
        logger.removeHandler(seen.records)


@pytest.fixture
def app(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment of an OAuth app pointed at the sandbox; the token file's path."""
    token_file = tmp_path / "config" / "keap-token.json"
    monkeypatch.delenv("KEAP_API_KEY", raising=False)
    monkeypatch.setenv("KEAP_API_URL", sandbox.api_url)
    monkeypatch.setenv("KEAP_TOKEN_URL", sandbox.url + "/token")
    monkeypatch.setenv("KEAP_CLIENT_ID", "sandbox-client")
    monkeypatch.setenv("KEAP_CLIENT_SECRET", "sandbox-secret")
    monkeypatch.setenv("KEAP_REFRESH_TOKEN", sandbox.tokens.new_refresh_token())
    monkeypatch.setenv("KEAP_TOKEN_FILE", str(token_file))
    return token_file
