"""A Keap REST hook receiver in FastAPI: answers the handshake, accepts a delivery at once, and
fetches the changed objects through their apiUrl after answering (a background task).

    pip install hookctl fastapi uvicorn httpx
    KEAP_API_URL=http://127.0.0.1:8787/crm/rest/v1 KEAP_API_KEY=sandbox-key \\
        uvicorn examples.receivers.fastapi_receiver:app --port 5000

then declare `url: http://127.0.0.1:5000/keap` in hooks.yaml, `hookctl apply`, and
`hookctl trigger contact.add --set email=ada@example.com`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx
from fastapi import BackgroundTasks, FastAPI, Request, Response

from hookctl.receiver import (
    Delivery,
    DeliveryError,
    fetch_objects,
    handshake_headers,
    parse_delivery,
)

logger = logging.getLogger("receiver")
API_URL = os.environ.get("KEAP_API_URL", "https://api.infusionsoft.com/crm/rest/v1")

app = FastAPI()
client = httpx.Client(headers={"X-Keap-API-Key": os.environ.get("KEAP_API_KEY", "")}, timeout=10)


def get(url: str) -> Any:
    answer = client.get(url)
    answer.raise_for_status()
    return answer.json()


def handle(delivery: Delivery) -> None:
    """Runs after the answer went out: Keap gives a receiver 30 s, so no fetch happens inline."""
    try:
        objects = fetch_objects(delivery, get, base_url=API_URL)
    except (httpx.HTTPError, DeliveryError):
        logger.exception("could not fetch the objects of %s", delivery.event_key)
        return
    logger.info("%s: %s", delivery.event_key, [obj.get("id") for obj in objects])


@app.post("/keap")
async def keap(request: Request, background: BackgroundTasks) -> Response:
    answer = handshake_headers(request.headers)
    if answer:
        return Response(status_code=200, headers=answer)
    try:
        delivery = parse_delivery(await request.body())
    except DeliveryError:
        return Response(status_code=400)
    background.add_task(handle, delivery)
    return Response(status_code=200)
