"""The receiver developer's loop end to end: the Flask example in examples/receivers/ runs on
loopback, `hookctl apply` subscribes it, `hookctl trigger` makes a contact, and the example
fetches the contact through the delivery's apiUrl and sees the overridden email."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import Cli
from werkzeug.serving import BaseWSGIServer, make_server

from hookctl.receiver import Delivery
from hookctl.sandbox import Sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "receivers" / "flask_receiver.py"


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("flask_receiver", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Seen:
    """What the example's worker handed to its handler, and a signal when it did."""

    def __init__(self) -> None:
        self.items: list[tuple[Delivery, list[Any]]] = []
        self.arrived = threading.Event()

    def __call__(self, delivery: Delivery, objects: list[Any]) -> None:
        self.items.append((delivery, objects))
        self.arrived.set()


@pytest.fixture
def flask_receiver(env: Sandbox, api_key: str) -> Iterator[tuple[str, Seen]]:
    seen = Seen()
    app = _example().create_app(api_url=env.api_url, api_key=api_key, handle=seen)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_the_flask_example_fetches_the_triggered_contact_through_its_api_url(
    env: Sandbox, flask_receiver: tuple[str, Seen], tmp_path: Path, cli: Cli
) -> None:
    base, seen = flask_receiver
    config = tmp_path / "hooks.yaml"
    config.write_text(
        "version: 1\n"
        "account:\n  credentials:\n    api_key_env: KEAP_API_KEY\n"
        f"ownership:\n  url_prefixes: ['{base}/']\n"
        f"hooks:\n  - name: contacts\n    url: {base}/keap\n    events: [contact.add]\n"
    )
    cli.run("apply", "-f", str(config), "--auto-approve")
    assert [h.status for h in env.hooks()] == ["Verified"]
    cli.run("trigger", "contact.add", "--set", "email=grace@example.com")
    assert seen.arrived.wait(timeout=30)
    ((delivery, objects),) = seen.items
    assert delivery.event_key == "contact.add" and delivery.object_type == "contact"
    (contact,) = objects
    assert contact["id"] == int(delivery.ids[0])
    assert contact["email_addresses"][0]["email"] == "grace@example.com"
    # It answered at once and did its fetch afterwards: one attempt, a 200.
    (attempt,) = env.deliveries.after(0)
    assert attempt.status == 200 and attempt.attempt == 1


def test_the_flask_example_fetches_by_id_when_the_field_shape_sends_no_api_url(
    env: Sandbox, flask_receiver: tuple[str, Seen], cli: Cli
) -> None:
    base, seen = flask_receiver
    env.seed([("task.add", f"{base}/keap", "Verified")])
    cli.run("trigger", "task.add", "--shape", "field", "--set", "title=Call back")
    assert seen.arrived.wait(timeout=30)
    ((delivery, objects),) = seen.items
    assert delivery.keys[0].api_url is None
    assert objects[0]["title"] == "Call back"


# Starlette's TestClient warns that it will move from httpx to another client; not ours to fix.
@pytest.mark.filterwarnings("ignore:Using `httpx`")
def test_the_fastapi_example_answers_the_handshake_and_fetches_a_delivered_contact(
    env: Sandbox, api_key: str, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    from fastapi.testclient import TestClient

    monkeypatch.setenv("KEAP_API_URL", env.api_url)
    monkeypatch.setenv("KEAP_API_KEY", api_key)
    path = EXAMPLE.with_name("fastapi_receiver.py")
    spec = importlib.util.spec_from_file_location("fastapi_receiver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    client = TestClient(module.app)
    handshake = client.post("/keap", headers={"X-Hook-Secret": "s3cr3t-handshake"})
    assert handshake.status_code == 200
    assert handshake.headers["X-Hook-Secret"] == "s3cr3t-handshake"
    # The body Keap would send, as the sandbox delivered it to its own receiver.
    env.seed([("contact.add", env.receiver_url + "/any", "Verified")])
    cli.run("trigger", "contact.add", "--set", "email=fast@example.com")
    (record,) = env.deliveries.after(0)
    env.reset_stats()
    assert client.post("/keap", json=record.body).status_code == 200
    # The background task ran after the answer and fetched the contact through its apiUrl.
    assert env.stats()["calls"] == {"GET /contacts/{id}": 1}
    assert client.post("/keap", content=b"not a delivery").status_code == 400
