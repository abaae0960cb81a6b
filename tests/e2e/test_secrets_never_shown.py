"""Secrets stay secret: no command shows an API key, an access token or a hook's X-Hook-Secret,
whatever goes wrong; plan files are private; and credentials go only to a host whose TLS
certificate verifies.

The sandbox requires a recognisable key and token. Every command runs with -vvv (hookctl's
debug log and urllib3's), and the test keeps everything a user, a log collector or a CI
artifact could see: stdout, stderr, every log record as any formatter could render it
(message, arguments, exception), the plan file, the GitHub step summary, the imported
hooks.yaml and the drift notification's body. It asserts each command's exit status as well,
so a command cannot pass by failing before it did anything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from helpers.cli import Cli
from helpers.witness import API_KEY, TOKEN, Witness

from hookctl.errors import KeapError, UnreachableError
from hookctl.keap.client import Keap, RetryPolicy
from hookctl.sandbox import Faults, Sandbox, SandboxSettings

CLOSED_PORT = "http://127.0.0.1:9/crm/rest/v1"


def _config(path: Path, receiver: str, field: str, variable: str) -> Path:
    # The wildcard makes `validate` and `plan` ask the account for its event types too.
    path.write_text(
        "version: 1\n"
        f"account:\n  credentials:\n    {field}: {variable}\n"
        f"ownership:\n  url_prefixes: ['{receiver}/ours/']\n"
        f"hooks:\n  - name: contacts\n    url: {receiver}/ours/contacts\n"
        "    events: [contact.add, 'invoice.*']\n"
    )
    return path


@pytest.mark.parametrize("credential", ["KEAP_API_KEY", "KEAP_ACCESS_TOKEN"])
def test_no_command_shows_the_key_the_token_or_a_hook_secret_whatever_happens(
    credential: str, witness: Witness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = API_KEY if credential == "KEAP_API_KEY" else TOKEN
    env_key = "api_key_env" if credential == "KEAP_API_KEY" else "access_token_env"
    plan_file, summary = tmp_path / "plan.json", tmp_path / "summary.md"
    imported = tmp_path / "imported.yaml"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run = witness.run
    with Sandbox(SandboxSettings(api_key=API_KEY, access_token=TOKEN)) as sb:
        witness.sandbox = sb
        monkeypatch.setenv("KEAP_API_URL", sb.api_url)
        monkeypatch.setenv(credential, value)
        config = str(_config(tmp_path / "hooks.yaml", sb.receiver_url, env_key, credential))
        delayed = f"{sb.receiver_url}/delayed/x"

        run(0, "validate", "-f", config)
        run(0, "validate", "--offline", "-f", config)
        run(0, "plan", "-f", config, "--out", str(plan_file))
        run(2, "plan", "-f", config, "--format", "json", "--detailed-exitcode")
        run(0, "plan", "-f", config, "--format", "markdown")
        run(0, "apply", str(plan_file), "--auto-approve")
        run(0, "apply", "-f", config, "--auto-approve", "--format", "json")
        run(0, "hooks", "types")
        run(0, "hooks", "list", "--format", "json")
        run(0, "hooks", "list", "--status", "Verified", "--url", "*/contacts")
        run(0, "hooks", "create", "contact.delete", delayed)
        key = next(h.key for h in sb.hooks() if h.hook_url == delayed)
        run(0, "hooks", "get", key, "--format", "json")
        run(0, "hooks", "update", key, "contact.edit", delayed)
        # Delayed verification, with the secret given each way: wrong, on the command line,
        # on stdin, from a variable. Each plain verify issues a new secret; the first fails
        # (exit 1): the delayed receiver leaves the new hook Unverified.
        run(1, "hooks", "verify", key)
        secret = sb.last_secret(delayed) or ""
        assert "X-Hook-Secret" in run(1, "hooks", "verify", key, "--secret", "wrong-" + secret)
        run(0, "hooks", "verify", key, "--secret", secret)
        run(0, "hooks", "verify", key)
        run(
            0, "hooks", "verify", key, "--secret", "-", stdin=(sb.last_secret(delayed) or "") + "\n"
        )
        run(0, "hooks", "verify", key)
        monkeypatch.setenv("HOOK_SECRET", sb.last_secret(delayed) or "")
        run(0, "hooks", "verify", key, "--secret-env", "HOOK_SECRET")
        run(0, "hooks", "delete", key, "--yes")
        run(1, "hooks", "get", "999")
        run(1, "hooks", "create", "contact.nope", delayed)
        sb.set_status(sb.hooks()[0].key, "Inactive")
        notify = f"{sb.receiver_url}/notify"
        run(2, "drift", "-f", config, "--format", "json", "--notify", notify)
        run(0, "apply", "-f", config, "--dry-run")
        run(0, "apply", "-f", config, "--auto-approve", "--format", "markdown")
        run(0, "import", "-o", str(imported))

        # The sandbox failing in each way it can...
        for faults in (Faults(error_rate=1.0), Faults(html_error_rate=1.0)):
            sb.set_faults(faults)
            run(1, "plan", "-f", config)
            run(1, "hooks", "create", "contact.add", f"{sb.receiver_url}/ours/new")
        sb.set_faults(Faults(throttle_rate=0.01, retry_after=False))
        run(0, "hooks", "list")  # the one call the bucket holds
        assert "429" in run(1, "hooks", "list")
        sb.set_faults(Faults(drop_after_create=1))
        run(0, "hooks", "create", "contact.add", f"{sb.receiver_url}/ours/dropped")
        sb.set_faults(Faults())

        # ...the credential refused...
        monkeypatch.setenv(credential, value + "-revoked")
        assert credential in run(1, "plan", "-f", config)
        run(1, "apply", "-f", config, "--auto-approve")
        run(1, "hooks", "verify", key, "--secret", secret)
        monkeypatch.delenv(credential)
        run(1, "hooks", "list")
        monkeypatch.setenv(credential, value)
        received = [str(r.body) for r in sb.received() if r.path.endswith("/notify")]
        assert received, "the drift notification was not delivered"

    # ...and nothing listening at all.
    witness.sandbox = None
    monkeypatch.setenv("KEAP_API_URL", CLOSED_PORT)
    for argv in (
        ["validate", "-f", config],
        ["plan", "-f", config],
        ["apply", "-f", config, "--auto-approve"],
        ["drift", "-f", config],
        ["hooks", "list"],
        ["hooks", "create", "contact.add", delayed],
        ["hooks", "verify", key, "--secret", secret],
        ["import"],
    ):
        assert "reachable" in run(1, *argv)

    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    witness.seen += received
    witness.assert_nothing_shows(plan_file, summary, imported)


def test_exceptions_from_the_python_api_hold_no_token_or_hook_secret(sandbox: Sandbox) -> None:
    """test_client_operations_errors_and_faults.py checks the API key; here the token (sent as
    Bearer) and a hook secret, through str, repr, args, attributes and the formatted traceback
    of every error."""
    texts: list[str] = []

    def keep(error: BaseException) -> None:
        texts.extend([str(error), repr(error), repr(error.args), repr(vars(error))])
        texts.extend(traceback.format_exception(error))

    fast = RetryPolicy(attempts=2, backoff_base=0.01, total_seconds=2)
    with Sandbox(SandboxSettings(api_key=None, access_token=TOKEN)) as sb:
        url = f"{sb.receiver_url}/delayed/api"
        with Keap(sb.api_url, env={"KEAP_ACCESS_TOKEN": TOKEN}, retry=fast) as keap:
            texts.append(repr(keap))
            hook = keap.create("contact.add", url)
            secret = sb.last_secret(url)
            assert secret
            calls: list[Any] = [
                lambda: keap.delayed_verify(hook.key, secret[::-1]),
                lambda: keap.get("404"),
                lambda: keap.create("contact.nope", url),
            ]
            for call in calls:
                with pytest.raises(KeapError) as caught:
                    call()
                keep(caught.value)
            sb.set_faults(Faults(error_rate=1.0))
            with pytest.raises(KeapError) as caught:
                keap.delayed_verify(hook.key, secret)
            keep(caught.value)
        for token in (TOKEN + "-expired", ""):
            with Keap(sb.api_url, env={"KEAP_ACCESS_TOKEN": token}, retry=fast) as wrong:
                with pytest.raises(KeapError) as caught:
                    wrong.list()
                keep(caught.value)
    with Keap(CLOSED_PORT, env={"KEAP_ACCESS_TOKEN": TOKEN}, retry=fast) as nowhere:
        with pytest.raises(UnreachableError) as caught:
            nowhere.delayed_verify("1", secret)
        keep(caught.value)
    everything = "\n".join(texts)
    assert TOKEN not in everything and secret not in everything


def _serve_sandbox(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hookctl", "-vv", "sandbox", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_sandbox_command_never_shows_the_key_it_accepts(api_key: str) -> None:
    sandbox = _serve_sandbox("--port", "0", "--api-key", API_KEY)
    try:
        assert sandbox.stdout is not None
        listening = sandbox.stdout.readline()
        url = listening.split("API ")[1].split(",")[0]
        port = url.split(":")[2].split("/")[0]
        for key in (API_KEY, API_KEY + "-wrong"):
            with Keap(url, env={"KEAP_API_KEY": key}) as keap:
                with contextlib.suppress(KeapError):
                    keap.list()
        # A second sandbox on the same port fails; its error shows no key either.
        clash = _serve_sandbox("--port", port, "--api-key", API_KEY)
        clash_output = clash.communicate(timeout=30)[0]
        assert clash.returncode != 0
    finally:
        sandbox.send_signal(signal.SIGTERM)
    output = listening + sandbox.communicate(timeout=30)[0]
    assert 'GET /crm/rest/v1/hooks HTTP/1.1" 401' in output  # the wrong key was logged about
    assert API_KEY not in output + clash_output


# -- TLS ---------------------------------------------------------------------------------------


class _Recording(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Recording.requests.append(self.headers.get("X-Keap-API-Key", ""))
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the refused handshakes are the point of the test


@pytest.fixture
def tls_api(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on loopback with a self-signed certificate; its url and the cert."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ),
            *("-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _TLSServer(("127.0.0.1", 0), _Recording)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    _Recording.requests = []
    yield f"https://127.0.0.1:{server.server_address[1]}/crm/rest/v1", cert
    server.shutdown()
    server.server_close()


def test_a_certificate_that_does_not_verify_gets_no_request_and_no_credential(
    tls_api: tuple[str, Path],
) -> None:
    url, cert = tls_api
    # Every way people try to switch verification off is ignored.
    off = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "", "PYTHONHTTPSVERIFY": "0"}
    fast = RetryPolicy(attempts=3, backoff_base=0.01)
    with Keap(url, env={"KEAP_API_KEY": API_KEY, **off}, retry=fast) as keap:
        with pytest.raises(UnreachableError, match="TLS certificate verification failed") as e:
            keap.list()
        assert keap.calls == 1  # it will not verify on a retry either
    assert "REQUESTS_CA_BUNDLE" in str(e.value)
    assert _Recording.requests == []
    # Trusting the certificate through REQUESTS_CA_BUNDLE is the way in.
    with Keap(url, env={"KEAP_API_KEY": API_KEY, "REQUESTS_CA_BUNDLE": str(cert)}) as keap:
        assert keap.list() == []
    assert _Recording.requests == [API_KEY]


def test_the_command_line_refuses_an_unverified_certificate_and_says_what_to_set(
    tls_api: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    url, cert = tls_api
    monkeypatch.setenv("KEAP_API_KEY", API_KEY)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, retry_number: 0.01)
    result = cli.run("hooks", "list", "--api-url", url, status=1)
    assert "set REQUESTS_CA_BUNDLE" in result.err
    assert _Recording.requests == []
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    result = cli.run("hooks", "list", "--api-url", url)
    assert "No hook subscriptions." in result.out
    assert os.environ["REQUESTS_CA_BUNDLE"] == str(cert)
