"""Every file hookctl reads goes through one bounded read (system.files.read_bounded) and every
file it makes through one atomic write (system.files.write_atomically): no reader waits on a
FIFO or reads past its bound, and the metrics file is written like every other file."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hookctl import config
from hookctl.engine import metrics, planfile
from hookctl.errors import ConfigError, HookctlError, PlanError
from hookctl.keap.oauth import OAuthAuth
from hookctl.system.files import NotAFile, read_bounded, write_atomically
from hookctl.tools import fmt

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


def test_a_file_is_read_whole_up_to_one_byte_past_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_bounded(path, 10) == b"x" * 10
    assert read_bounded(path, 9) == b"x" * 10  # one past: the caller knows it is too large
    assert read_bounded(path, 3) == b"xxxx"
    # Larger than one slice: the bound holds across slices.
    path.write_bytes(b"y" * ((1 << 20) + 5))
    assert len(read_bounded(path, (1 << 20) + 1)) == (1 << 20) + 2


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    yield path
    # Should a reader be stuck in open(), a writer lets it go, so the test can end.
    with contextlib.suppress(OSError):  # no reader: nothing to let go
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def _within_seconds(call: Callable[[], object], seconds: float = 10.0) -> object:
    """What `call` returns or raises; fails the test if it is still waiting after `seconds` (a
    generous bound: a read that does not block returns in microseconds)."""
    result: list[object] = []

    def run() -> None:
        try:
            result.append(call())
        except Exception as exc:
            result.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert result, "the read waited on the FIFO"
    return result[0]


def test_a_fifo_or_a_directory_is_refused_without_waiting(fifo: Path, tmp_path: Path) -> None:
    refused = _within_seconds(lambda: read_bounded(fifo, 100))
    assert isinstance(refused, NotAFile)
    assert refused.reason == "is a FIFO, not a regular file: give hookctl a file"
    with pytest.raises(NotAFile, match="is a directory"):
        read_bounded(tmp_path, 100)
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing", 100)


def test_every_reader_refuses_a_fifo_in_its_own_words(fifo: Path) -> None:
    refused = _within_seconds(lambda: config.read(fifo))
    assert isinstance(refused, ConfigError)
    assert str(refused) == f"{fifo}: is a FIFO, not a regular file: give hookctl a file"

    refused = _within_seconds(lambda: planfile.read(fifo))
    assert isinstance(refused, PlanError)
    assert str(refused).startswith(f"{fifo}: cannot read the plan file: is a FIFO")

    refused = _within_seconds(lambda: fmt.read_text(str(fifo)))
    assert isinstance(refused, HookctlError)
    assert str(refused).startswith(f"{fifo}: cannot read: is a FIFO")

    oauth = OAuthAuth("client", "secret", fifo)
    refused = _within_seconds(oauth.kept)
    assert isinstance(refused, HookctlError)
    assert str(refused) == f"{fifo}: the token file is not a plain file"

    # A metrics file that cannot be read only loses the last-success times.
    assert _within_seconds(lambda: metrics.read_last_success(str(fifo))) == {}


def test_every_reader_stops_at_its_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"{" + b" " * 100 + b"}")
    monkeypatch.setattr(planfile, "MAX_BYTES", 50)
    with pytest.raises(PlanError, match="larger than 50 bytes"):
        planfile.read(big)
    monkeypatch.setattr(fmt, "_MAX_BYTES", 50)
    with pytest.raises(HookctlError, match="larger than 50 bytes"):
        fmt.read_text(str(big))
    # The previous metrics are read up to their bound, and what is past it is not looked at.
    prom = tmp_path / "hookctl.prom"
    sample = 'hookctl_drift_last_success_timestamp_seconds{account="a"} 5.000\n'
    prom.write_text(sample + 'hookctl_drift_last_success_timestamp_seconds{account="b"} 6.000\n')
    monkeypatch.setattr(metrics, "PREVIOUS_MAX_BYTES", len(sample))
    assert metrics.read_last_success(str(prom)) == {"a": 5.0}


def test_the_metrics_file_is_written_atomically_and_readable_whatever_the_umask(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hookctl.prom"
    path.write_text("old\n")
    old = os.umask(0o077)
    try:
        metrics.write_drift(str(path), [], now=1.0)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert "hookctl_drift_run_timestamp_seconds 1.000" in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hookctl.prom"]


def test_a_metrics_write_that_fails_says_which_flag_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "hookctl.prom"
    (path / "in-the-way").mkdir(parents=True)  # a directory that a rename cannot replace
    with pytest.raises(HookctlError) as refused:
        metrics.write_drift(str(path), [], now=1.0)
    assert str(refused.value).startswith(f"--metrics-file {path}: cannot write the metrics: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hookctl.prom"]


def test_write_atomically_can_give_the_exact_mode(tmp_path: Path) -> None:
    path = tmp_path / "f"
    old = os.umask(0o077)
    try:
        write_atomically(path, "a", mode=0o644)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        write_atomically(path, "b", mode=0o644, umask=False)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(old)
