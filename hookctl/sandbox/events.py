"""Event delivery with Keap's rules, on a compressed clock, each attempt written to the
delivery log."""

from __future__ import annotations

import concurrent.futures
import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from hookctl.domain.models import Status
from hookctl.sandbox.deliveries import Attempt, DeliveryLog
from hookctl.sandbox.outbound import Answer, Outbound
from hookctl.sandbox.store import Store

logger = logging.getLogger(__name__)

# Keap: the first attempt 30-60 s after the change, retries 30-60 s, 5 min and 30 min after a
# failure; the subscription goes Inactive after the fourth failed attempt. Seconds of Keap's
# clock, multiplied by the sandbox's time_scale.
ATTEMPT_DELAYS: tuple[tuple[float, float], ...] = ((30, 60), (30, 60), (300, 300), (1800, 1800))
# Keap: the first attempt for these comes 5-10 minutes after the change.
FIRST_DELAY: dict[str, tuple[float, float]] = {
    "contactGroup.applied": (300, 600),
    "contactGroup.delete": (300, 600),
}
BATCH_SIZE = 1000
# Keap gives a receiver 30 s to answer, scaled like every other delay. The floor keeps a
# loopback receiver on a busy machine from timing out on the compressed clock, where 30 s
# would be a few milliseconds.
DELIVERY_TIMEOUT = 30.0
MIN_DELIVERY_TIMEOUT = 2.0

Shape = Literal["documented", "field"]
SHAPES: tuple[Shape, ...] = ("documented", "field")


@dataclass(frozen=True, slots=True)
class Changed:
    """One changed object: its id and the url of the object on the sandbox."""

    id: int | str
    api_url: str


def _succeeded(status: int) -> bool:
    # Keap's definition of failure: no answer, or a status < 200 or >= 400.
    return 200 <= status < 400


def _now(shape: Shape) -> str:
    # The documented payload's timestamps carry milliseconds; the body seen in the field did not.
    precision = "milliseconds" if shape == "documented" else "seconds"
    return datetime.now(timezone.utc).isoformat(timespec=precision).replace("+00:00", "Z")


def _integer(object_id: int | str) -> int | str:
    text = str(object_id)
    return int(text) if text.isdigit() and len(text) < 19 else object_id


def payload(event_key: str, objects: list[Changed], shape: Shape) -> dict[str, Any]:
    """The body Keap POSTs: as documented (ids as Keap's document writes them, strings, apiUrl,
    milliseconds) or as seen in the field (KEAP.md: `apiUrl: ""`, integer ids, seconds only, a
    top-level `api_url`)."""
    timestamp = _now(shape)
    if shape == "field":
        keys = [{"id": _integer(o.id), "apiUrl": "", "timestamp": timestamp} for o in objects]
        return {
            "event_key": event_key,
            "object_type": event_key.rsplit(".", 1)[0],
            "object_keys": keys,
            "api_url": "",
        }
    return {
        "event_key": event_key,
        "object_type": event_key.rsplit(".", 1)[0],
        "object_keys": [{"id": o.id, "apiUrl": o.api_url, "timestamp": timestamp} for o in objects],
    }


class Deliverer:
    def __init__(
        self, store: Store, outbound: Outbound, time_scale: float, log: DeliveryLog
    ) -> None:
        self._store = store
        self._outbound = outbound
        self.time_scale = time_scale
        self.log = log
        self._stopping = threading.Event()
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._pending: set[concurrent.futures.Future[dict[str, Any]]] = set()
        # Threads start on the first event only, so an idle sandbox starts fast.
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=8, thread_name_prefix="sandbox-delivery"
        )

    @property
    def timeout(self) -> float:
        return max(DELIVERY_TIMEOUT * self.time_scale, MIN_DELIVERY_TIMEOUT)

    def fire(
        self, event_key: str, objects: list[Changed], wait: bool, shape: Shape = "documented"
    ) -> dict[str, Any]:
        """Queue one delivery per Verified subscription of event_key and batch of objects."""
        targets = [
            hook
            for hook in self._store.list()
            if hook.event_key == event_key and hook.status == "Verified"
        ]
        futures = []
        for start in range(0, len(objects), BATCH_SIZE):
            body = payload(event_key, objects[start : start + BATCH_SIZE], shape)
            futures += [self._submit(hook.key, body) for hook in targets]
        outcome: dict[str, Any] = {
            "event_key": event_key,
            "subscriptions": [hook.key for hook in targets],
            "deliveries": [],
        }
        if wait:
            concurrent.futures.wait(futures)
            outcome["deliveries"] = [_result(future) for future in futures]
        return outcome

    def resend(self, record: Attempt) -> Attempt:
        """One attempt now with a logged delivery's body, to the hook's current url, as
        `stripe events resend` does. Keap has no resend; this one neither retries nor changes the
        subscription's status, and is logged like any attempt."""
        hook = self._store.get(record.hook_key)
        if hook is None:
            raise KeyError(f"hook {record.hook_key} no longer exists")
        answer = self._outbound.deliver(hook.hook_url, record.body, self.timeout)
        return self._record(hook.key, hook.hook_url, record.body, 1, answer, hook.status, record.id)

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

    def _deliver(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        attempts: list[Attempt] = []

        def outcome(result: str, status: Status | None) -> dict[str, Any]:
            return {
                "key": key,
                "objects": len(body["object_keys"]),
                "attempts": len(attempts),
                "result": result,
                "status": status,
            }

        first = FIRST_DELAY.get(body["event_key"])
        for number, (low, high) in enumerate(ATTEMPT_DELAYS, start=1):
            low, high = first if first is not None and number == 1 else (low, high)
            delay = self._rng.uniform(low, high)
            if self._stopping.wait(delay * self.time_scale):
                return outcome("cancelled", None)
            hook = self._store.get(key)
            if hook is None or hook.status != "Verified":
                # Deleted or deactivated since the event: Keap sends nothing more.
                return outcome("cancelled", hook.status if hook else None)
            answer = self._outbound.deliver(hook.hook_url, body, self.timeout)
            logger.debug(
                "delivery to hook %s, attempt %d: %s", key, number, answer.status or "no answer"
            )
            status: Status = "Verified"
            if _succeeded(answer.status):
                result = "delivered"
            elif answer.status == 410 or number == len(ATTEMPT_DELAYS):
                # 410 ends it at once; any other failure after the fourth attempt.
                self._deactivate(key)
                status, result = "Inactive", "gone" if answer.status == 410 else "failed"
            else:
                result = ""
            attempts.append(
                self._record(key, hook.hook_url, body, number, answer, status, delay=delay)
            )
            if result:
                return outcome(result, status)
        return outcome("failed", "Inactive")

    def _record(
        self,
        key: str,
        url: str,
        body: dict[str, Any],
        number: int,
        answer: Answer,
        status: Status | None,
        resend_of: int | None = None,
        delay: float = 0.0,
    ) -> Attempt:
        return self.log.add(
            time=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            hook_key=key,
            event_key=body["event_key"],
            url=url,
            body=body,
            attempt=number,
            status=answer.status,
            answer=answer.excerpt,
            duration_ms=round(answer.seconds * 1000),
            hook_status=status,
            delay_s=round(delay, 3),
            resend_of=resend_of,
        )

    def _deactivate(self, key: str) -> None:
        logger.info("hook %s is now Inactive", key)
        self._store.set_status(key, "Inactive")


def _result(future: concurrent.futures.Future[dict[str, Any]]) -> dict[str, Any]:
    if future.cancelled():
        return {"result": "cancelled", "attempts": 0}
    return future.result()
