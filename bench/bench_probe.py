"""Time `hookctl probe`'s handshakes side by side against one at a time (issue 18).

Usage: python bench/bench_probe.py [--urls N] [--latency SECONDS]

A receiver on loopback answers every handshake correctly after `latency` (50 ms by default);
N urls (200 by default) are probed one at a time, then at the default concurrency. Prints both
wall times and their ratio; exits 1 unless the concurrent run takes under a tenth of the serial.
"""

from __future__ import annotations

import argparse
import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from hookctl.engine.probe import DEFAULT_CONCURRENCY, probe_all


@contextmanager
def receiver(latency: float) -> Iterator[str]:
    """A receiver on 127.0.0.1 that echoes X-Hook-Secret after `latency`; yields its root."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            time.sleep(latency)
            self.send_response(200)
            self.send_header("X-Hook-Secret", self.headers.get("X-Hook-Secret", ""))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        # The default backlog of 5 would drop connections the probes open at once.
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def timed(urls: list[str], concurrency: int) -> float:
    started = time.perf_counter()
    # The receivers are on loopback, as beside the sandbox.
    probes = probe_all(urls, timeout=10, concurrency=concurrency, allow_loopback=True)
    took = time.perf_counter() - started
    failed = [p.outcome for p in probes.values() if not p.ok]
    if len(probes) != len(urls) or failed:
        raise RuntimeError(f"{len(failed)} of {len(urls)} probes failed: {failed[:3]}")
    return took


def serial_and_concurrent(count: int, latency: float) -> tuple[float, float]:
    """Wall seconds to probe `count` urls one at a time, then at the default concurrency."""
    with receiver(latency) as base:
        urls = [f"{base}/hooks/{i}?token=t{i}" for i in range(count)]
        return timed(urls, 1), timed(urls, DEFAULT_CONCURRENCY)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    serial, concurrent = serial_and_concurrent(args.urls, args.latency)
    print(f"serial (concurrency 1): {serial:.2f} s")
    print(f"concurrent (concurrency {DEFAULT_CONCURRENCY}): {concurrent:.2f} s")
    print(f"ratio: {concurrent / serial:.3f} (target: under 0.1)")
    return 0 if concurrent < serial / 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
