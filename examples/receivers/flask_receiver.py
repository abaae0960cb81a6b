"""A Keap REST hook receiver in Flask: answers the handshake, accepts a delivery at once, and
fetches the changed objects through their apiUrl in a background worker.

    pip install hookctl flask requests
    KEAP_API_URL=http://127.0.0.1:8787/crm/rest/v1 KEAP_API_KEY=sandbox-key \\
        flask --app examples/receivers/flask_receiver.py run --port 5000

then declare `url: http://127.0.0.1:5000/keap` in hooks.yaml, `hookctl apply`, and
`hookctl trigger contact.add --set email=ada@example.com`.

Why a queue: Keap waits 30 s for an answer and makes a subscription Inactive after four
failures; fetching objects inline is the commonest way to get there.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

import requests
from flask import Flask, request

from hookctl.receiver import (
    Delivery,
    DeliveryError,
    HandshakeMiddleware,
    fetch_objects,
    parse_delivery,
)

logger = logging.getLogger("receiver")

Handler = Callable[[Delivery, list[Any]], None]


def log_objects(delivery: Delivery, objects: list[Any]) -> None:
    """What your receiver does with the objects; here, log their ids."""
    logger.info("%s: %s", delivery.event_key, [obj.get("id") for obj in objects])


def create_app(
    api_url: str | None = None, api_key: str | None = None, handle: Handler = log_objects
) -> Flask:
    api_url = api_url or os.environ.get("KEAP_API_URL", "https://api.infusionsoft.com/crm/rest/v1")
    api_key = api_key or os.environ["KEAP_API_KEY"]
    app = Flask(__name__)
    # The handshake (a POST carrying X-Hook-Secret) is answered before Flask sees it.
    app.wsgi_app = HandshakeMiddleware(app.wsgi_app, paths=["/keap"])  # type: ignore[method-assign]
    work: queue.Queue[Delivery] = queue.Queue(maxsize=1000)
    session = requests.Session()
    session.headers["X-Keap-API-Key"] = api_key

    def get(url: str) -> Any:
        answer = session.get(url, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def worker() -> None:
        while True:
            delivery = work.get()
            try:
                handle(delivery, fetch_objects(delivery, get, base_url=api_url))
            except (requests.RequestException, DeliveryError):
                logger.exception("could not fetch the objects of %s", delivery.event_key)

    threading.Thread(target=worker, name="keap-fetch", daemon=True).start()

    @app.post("/keap")
    def keap() -> tuple[str, int]:
        try:
            delivery = parse_delivery(request.get_data())
        except DeliveryError:
            return "", 400
        try:
            work.put_nowait(delivery)
        except queue.Full:
            # Failing makes Keap retry later (30-60 s, 5 min, 30 min): better than dropping.
            return "", 503
        return "", 200

    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    create_app().run(port=5000)
