"""Mutation fuzzing of the two files hookctl reads from users: hooks.yaml and saved plans.

Valid documents are mutated byte by byte (flips, deletions, insertions, splices); the readers
may only ever answer with their clean error. A short run is part of the suite; for a long one
set HOOKCTL_FUZZ_EXAMPLES (e.g. 20000, a few minutes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookctl import planfile
from hookctl.config import parse
from hookctl.errors import ConfigError, PlanError
from hookctl.models import Hook
from hookctl.planner import plan

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("HOOKCTL_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EXAMPLE_YAML = (ROOT / "examples" / "hooks.yaml").read_bytes()


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        kind = draw(st.sampled_from(("flip", "delete", "insert", "splice")))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            start = draw(st.integers(0, max(len(original) - 1, 0)))
            data[at:at] = original[start : start + draw(st.integers(1, 64))]
    return bytes(data)


@FUZZ
@given(mutated(EXAMPLE_YAML))
def test_a_mutated_hooks_yaml_gives_a_config_error_or_loads(data: bytes) -> None:
    try:
        parse(data, "hooks.yaml", env={})
    except ConfigError as exc:
        assert str(exc).startswith("hooks.yaml")


def _saved_plan(directory: Path) -> bytes:
    desired = parse(EXAMPLE_YAML, "hooks.yaml", env={})
    live = [Hook("1", "contact.add", "https://hooks.example.com/old", "Verified")]
    path = directory / "plan.json"
    planfile.write(
        path,
        plan(desired, live),
        config_digest=desired.digest,
        live_fingerprint=planfile.fingerprint(live),
        source="hooks.yaml",
        api_url="https://api.infusionsoft.com/crm/rest/v1",
    )
    return path.read_bytes()


@pytest.fixture(scope="module")
def saved_plan(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _saved_plan(tmp_path_factory.mktemp("fuzz"))


@FUZZ
@given(data=st.data())
def test_a_mutated_plan_file_is_refused_with_a_plan_error(
    saved_plan: bytes, tmp_path: Path, data: st.DataObject
) -> None:
    content = data.draw(mutated(saved_plan))
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    try:
        planfile.read(path)
    except PlanError as exc:
        assert str(path) in str(exc)
    else:
        # Only a change of layout (white space, say) leaves the checksummed content whole.
        assert json.loads(content) == json.loads(saved_plan)
