"""The distribution: ``python -m build`` makes a wheel and an sdist that ``twine check``
accepts, they hold what they should and nothing else, and the wheel installed into a fresh
virtual environment records a run with ``pytest --otel`` and lists and analyzes it with
``otel-pytest``, with no trace of this checkout on the path.

The build runs without build isolation, from a copy of the checkout's files (``git
ls-files``: a clean tree, so nothing built or left over here can slip into a package):
isolation would fetch setuptools from the package index on every run, and the tests make no
network request. So setuptools comes from the dev extra, and ``build`` checks it meets
``[build-system] requires``. ``build`` makes the sdist, then the wheel *from the sdist*: the
wheel existing proves the sdist holds what a rebuild needs.

The fresh environment gets the wheel with ``--no-deps``; its dependencies (pytest, the
OpenTelemetry SDK, numpy, scipy…) come from this environment's site-packages, seen through
a ``.pth`` line naming a folder of links to every entry there except otel-pytest's own.
Installing them from the index instead would take minutes and the network; what is tested
here is the wheel, and the dependency versions are the ones the rest of the suite runs on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest

from otel_pytest.store.index import RunIndex
from otel_pytest.store.reader import read_spans

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

ROOT = Path(__file__).parent.parent
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT: dict[str, Any] = PYPROJECT["project"]
VERSION: str = PROJECT["version"]
DIST_INFO = f"otel_pytest-{VERSION}.dist-info"
# Where the installed copy's package and metadata come from.
WHERE_FROM = "import otel_pytest, importlib.metadata as m; print(otel_pytest.__file__, m.version('otel-pytest'))"
TIMEOUT = 120  # seconds for any one step: a hung step fails the test instead of the suite


def run(argv: Sequence[str | Path], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def checked(argv: Sequence[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    """The standard output of a command that must succeed."""
    done = run(argv, cwd, env)
    assert done.returncode == 0, f"{' '.join(map(str, argv))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def source_files() -> list[str]:
    """The checkout's files as git sees them: tracked, and new ones not ignored."""
    listed = checked(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    return sorted({name for name in listed.split("\0") if name and (ROOT / name).is_file()})


def package_files() -> set[str]:
    return {name for name in source_files() if name.startswith("otel_pytest/")}


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path
    log: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    source = tmp_path_factory.mktemp("source")
    for name in source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((ROOT / name).read_bytes())
    dist = tmp_path_factory.mktemp("dist")
    done = run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, source], source)
    assert done.returncode == 0, done.stdout + done.stderr
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    assert [p.name for p in wheels + sdists] == [
        f"otel_pytest-{VERSION}-py3-none-any.whl",
        f"otel_pytest-{VERSION}.tar.gz",
    ]
    return Built(wheels[0], sdists[0], done.stderr)  # build's own progress lines


def test_the_wheel_is_built_from_the_sdist(built: Built) -> None:
    assert "* Building wheel from sdist" in built.log.splitlines()


def test_twine_check_accepts_the_wheel_and_the_sdist(built: Built) -> None:
    names = [built.wheel.name, built.sdist.name]  # short lines: twine wraps at 80 columns
    out = checked([sys.executable, "-m", "twine", "--no-color", "check", "--strict", *names], built.wheel.parent)
    assert out.splitlines() == [f"Checking {name}: PASSED" for name in names]


def test_the_wheel_holds_the_package_its_data_and_license_and_nothing_else(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
    dist_info = {f"{DIST_INFO}/{name}" for name in ("METADATA", "WHEEL", "entry_points.txt", "top_level.txt", "RECORD")}
    # Every file of the package, .py or not (py.typed is the one data file the package has).
    assert names == package_files() | dist_info | {f"{DIST_INFO}/licenses/LICENSE"}
    assert "otel_pytest/py.typed" in names


def test_the_sdist_holds_what_a_rebuild_needs_and_no_tests_bench_or_examples(built: Built) -> None:
    prefix = f"otel_pytest-{VERSION}/"
    with tarfile.open(built.sdist) as sdist:
        names = {m.name.removeprefix(prefix) for m in sdist.getmembers() if m.isfile()}
    made_by_setuptools = {"PKG-INFO", "setup.cfg"} | {n for n in names if n.startswith("otel_pytest.egg-info/")}
    assert names - made_by_setuptools == package_files() | {"pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"}


def wheel_metadata(built: Built) -> tuple[Message, str]:
    with zipfile.ZipFile(built.wheel) as wheel:
        metadata = wheel.read(f"{DIST_INFO}/METADATA").decode()
        entry_points = wheel.read(f"{DIST_INFO}/entry_points.txt").decode()
    return Parser().parsestr(metadata), entry_points


def test_the_metadata_says_what_pyproject_declares(built: Built) -> None:
    metadata, _ = wheel_metadata(built)
    assert (metadata["Name"], metadata["Version"]) == ("otel-pytest", VERSION)
    assert (metadata["License-Expression"], metadata.get_all("License-File")) == ("Apache-2.0", ["LICENSE"])
    assert metadata["Requires-Python"] == ">=3.10"
    assert metadata.get_all("Classifier") == PROJECT["classifiers"]
    assert "Framework :: Pytest" in PROJECT["classifiers"]
    assert "Typing :: Typed" in PROJECT["classifiers"]
    assert metadata.get_all("Provides-Extra") == ["grpc", "zstd", "analyze", "demo", "dev"]
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload() == (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_entry_points_are_the_pytest_plugin_and_the_command(built: Built) -> None:
    _, entry_points = wheel_metadata(built)
    assert entry_points.split() == [
        "[console_scripts]",
        "otel-pytest",
        "=",
        "otel_pytest.cli:main",
        "[pytest11]",
        "otel",
        "=",
        "otel_pytest.plugin",
    ]


def dependencies_view(folder: Path) -> Path:
    """A folder of links to this environment's installed packages, otel-pytest's own left
    out (this checkout's editable install, or an installed copy)."""
    folder.mkdir()
    for site in sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}):
        for entry in Path(site).iterdir():
            name = entry.name.lower().replace("-", "_")
            if "otel_pytest" in name or entry.suffix == ".pth" or (folder / entry.name).exists():
                continue
            (folder / entry.name).symlink_to(entry)
    return folder


def clean_environment(venv: Path) -> dict[str, str]:
    """The shell's basics only: no variable of this test run (``PYTEST_*``, ``OTEL_*``,
    ``PYTHONPATH``, xdist's) may reach the installed copy."""
    env = {name: os.environ[name] for name in ("HOME", "LANG", "LC_ALL", "TMPDIR") if name in os.environ}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    return env


def test_the_wheel_installed_in_a_fresh_environment_traces_a_run_and_analyzes_it(built: Built, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    checked([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)
    python = venv / "bin" / "python"
    site = Path(checked([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path).strip())
    (site / "dependencies.pth").write_text(f"{dependencies_view(tmp_path / 'dependencies')}\n")
    install: list[str | Path] = ["install", "--no-deps", "--no-index", built.wheel]
    checked([sys.executable, "-m", "pip", "--python", python, *install], tmp_path)

    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_tiny.py").write_text("def test_one():\n    pass\n\n\ndef test_two():\n    pass\n")
    env = clean_environment(venv)
    where = checked([python, "-c", WHERE_FROM], suite, env)
    assert where.split() == [str(site / "otel_pytest" / "__init__.py"), VERSION]

    pytest_run = run([python, "-m", "pytest", "--otel", "-p", "no:cacheprovider", "-p", "no:asyncio"], suite, env)
    assert pytest_run.returncode == 0, pytest_run.stdout + pytest_run.stderr
    store = suite / ".otel-pytest"
    entries, problems = RunIndex(store).entries()
    assert (len(entries), problems, entries[0].tests) == (1, [], 2)
    (run_entry,) = entries
    spans = list(read_spans(store / "runs" / run_entry.file))
    roots = sorted(span.name for _, span in spans if not span.parent_id and span.name.startswith("test_"))
    assert roots == ["test_tiny.py::test_one", "test_tiny.py::test_two"]
    assert {resource["telemetry.distro.version"] for resource, _ in spans} == {VERSION}

    command = venv / "bin" / "otel-pytest"
    assert command.read_text().splitlines()[0] == f"#!{python}"
    assert checked([command, "--version"], suite, env) == f"otel-pytest {VERSION}\n"
    listing = checked([command, "runs"], suite, env).splitlines()
    assert [line.split()[0] for line in listing[1:]] == [run_entry.run_id]
    report = json.loads(checked([command, "analyze", "--format", "json"], suite, env))
    assert (report["current_run"], report["runs_analyzed"]) == (run_entry.run_id, 1)
