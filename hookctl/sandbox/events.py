"""Event delivery with Keap's retry policy, on a compressed clock."""

from __future__ import annotations

import concurrent.futures
import logging
import random
import threading
from datetime import datetime, timezone
from typing import Any

from hookctl.domain.models import Status
from hookctl.sandbox.outbound import Outbound
from hookctl.sandbox.store import Store

logger = logging.getLogger(__name__)

# Keap: the first attempt 30-60 s after the change, retries 30-60 s, 5 min and 30 min after a
# failure; the subscription goes Inactive after the fourth failed attempt. Seconds of Keap's
# clock, multiplied by the sandbox's time_scale.
ATTEMPT_DELAYS: tuple[tuple[float, float], ...] = ((30, 60), (30, 60), (300, 300), (1800, 1800))
BATCH_SIZE = 1000


def _succeeded(status: int) -> bool:
    # Keap's definition of failure: no answer, or a status < 200 or >= 400.
    return 200 <= status < 400


class Deliverer:
    def __init__(self, store: Store, outbound: Outbound, time_scale: float) -> None:
        self._store = store
        self._outbound = outbound
        self._time_scale = time_scale
        self._stopping = threading.Event()
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._pending: set[concurrent.futures.Future[dict[str, Any]]] = set()
        # Threads start on the first event only, so an idle sandbox starts fast.
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=8, thread_name_prefix="sandbox-delivery"
        )

    def fire(self, event_key: str, object_ids: list[Any], wait: bool) -> dict[str, Any]:
        """Queue one delivery per Verified subscription of event_key and batch of objects."""
        targets = [
            hook
            for hook in self._store.list()
            if hook.event_key == event_key and hook.status == "Verified"
        ]
        timestamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        timestamp = timestamp.replace("+00:00", "Z")
        futures = []
        for start in range(0, len(object_ids), BATCH_SIZE):
            payload = {
                "event_key": event_key,
                "object_type": event_key.rsplit(".", 1)[0],
                # The sandbox serves no objects, so there is no apiUrl to point at.
                "object_keys": [
                    {"id": object_id, "apiUrl": "", "timestamp": timestamp}
                    for object_id in object_ids[start : start + BATCH_SIZE]
                ],
            }
            futures += [self._submit(hook.key, payload) for hook in targets]
        outcome: dict[str, Any] = {
            "event_key": event_key,
            "subscriptions": [hook.key for hook in targets],
            "deliveries": [],
        }
        if wait:
            concurrent.futures.wait(futures)
            outcome["deliveries"] = [_result(future) for future in futures]
        return outcome

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every queued delivery has ended (delivered, given up or cancelled)."""
        with self._lock:
            pending = list(self._pending)
        _, not_done = concurrent.futures.wait(pending, timeout=timeout)
        return not not_done

    def stop(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(
        self, key: str, payload: dict[str, Any]
    ) -> concurrent.futures.Future[dict[str, Any]]:
        future = self._pool.submit(self._deliver, key, payload)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: concurrent.futures.Future[dict[str, Any]]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _deliver(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        attempts = 0

        def outcome(result: str, status: Status | None) -> dict[str, Any]:
            return {
                "key": key,
                "objects": len(payload["object_keys"]),
                "attempts": attempts,
                "result": result,
                "status": status,
            }

        for low, high in ATTEMPT_DELAYS:
            if self._stopping.wait(self._rng.uniform(low, high) * self._time_scale):
                return outcome("cancelled", None)
            hook = self._store.get(key)
            if hook is None or hook.status != "Verified":
                # Deleted or deactivated since the event: Keap sends nothing more.
                return outcome("cancelled", hook.status if hook else None)
            attempts += 1
            status = self._outbound.deliver(hook.hook_url, payload)
            logger.debug(
                "delivery to hook %s, attempt %d: %s", key, attempts, status or "no answer"
            )
            if _succeeded(status):
                return outcome("delivered", "Verified")
            if status == 410:
                self._deactivate(key)
                return outcome("gone", "Inactive")
        self._deactivate(key)
        return outcome("failed", "Inactive")

    def _deactivate(self, key: str) -> None:
        logger.info("hook %s is now Inactive", key)
        self._store.set_status(key, "Inactive")


def _result(future: concurrent.futures.Future[dict[str, Any]]) -> dict[str, Any]:
    if future.cancelled():
        return {"result": "cancelled", "attempts": 0}
    return future.result()
