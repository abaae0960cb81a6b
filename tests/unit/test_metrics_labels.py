"""The metrics file's account labels follow the Prometheus text format whatever an account
is called: a CR, a form feed or U+2028 in a name neither breaks a line nor loses that
account's last success."""

from __future__ import annotations

from pathlib import Path

from hookctl.engine.metrics import FAILED, IN_SYNC, Check, read_last_success, render

NAMES = ["plain", "cr\rname", "ff\x0cname", "ls\u2028name", 'quote"back\\slash', "nl\nname"]


def test_every_line_is_a_comment_or_a_sample_whatever_the_account_is_called() -> None:
    text = render([Check(name, IN_SYNC, {"create": 0}, 0) for name in NAMES], 100.0, {})
    for line in text.rstrip("\n").split("\n"):
        assert line.startswith(("# ", "hookctl_drift_")), repr(line)
        assert "\r" not in line and "\x0c" not in line and "\u2028" not in line


def test_the_last_success_of_every_account_survives_a_failed_check(tmp_path: Path) -> None:
    previous = tmp_path / "drift.prom"
    previous.write_text(render([Check(name, IN_SYNC, {}, 0) for name in NAMES], 100.0, {}))
    kept = read_last_success(str(previous))
    assert len(kept) == len(NAMES)
    again = render([Check(name, FAILED) for name in NAMES], 200.0, kept)
    samples = [line for line in again.split("\n") if "last_success" in line and "#" not in line]
    assert len(samples) == len(NAMES)
    assert all(line.endswith(" 100.000") for line in samples)
