"""Where the store is when no ``--store`` is given: in pytest's rootdir, found as pytest finds it.

``otel-pytest runs`` and ``otel-pytest analyze`` run from any folder of a project (``tests/``
as well as the top) and must find the store the plugin wrote there. The plugin writes it at
``<rootdir>/<otel_store>`` (default ``.otel-pytest``), so this module repeats pytest's rootdir
and configuration file discovery for a run started without path arguments, without importing
pytest (the analyzer never does): walking up from the start folder, the first folder holding
one of pytest's configuration files *that configures pytest* is the rootdir (``pytest.toml``,
``.pytest.toml``, ``pytest.ini`` and ``.pytest.ini`` always do; ``pyproject.toml`` with a
``[tool.pytest]`` or ``[tool.pytest.ini_options]`` table; ``tox.ini`` with ``[pytest]``;
``setup.cfg`` with ``[tool:pytest]``), checked in that order in each folder. Failing that,
the folder of the first ``pyproject.toml`` met on the way up; then the first folder with a
``setup.py``; then the start folder itself. The ``otel_store`` key of the configuration file
found, if any, names the store, relative to the rootdir.

INI files are read with ``iniconfig``, the parser pytest itself uses (a dependency of pytest,
not pytest), so both read the same file the same way. What pytest's command line can change
(``--rootdir``, ``-c``, ``-o otel_store=…``, path arguments) is not known here: that is what
``--store`` is for.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import iniconfig

from otel_pytest.store.layout import store_in

STORE_KEY = "otel_store"


class ConfigFileError(Exception):
    """A pytest configuration file that cannot be read; pytest would stop on it too."""


# A file's pytest settings (key -> value as written), or None when it does not configure pytest.
Settings = dict[str, object]


def _ini_section(path: Path, section: str) -> Settings | None:
    try:
        parsed = iniconfig.IniConfig(str(path))
    except (iniconfig.ParseError, OSError, UnicodeDecodeError) as error:
        raise ConfigFileError(f"cannot read the pytest configuration file {path}: {error}") from None
    return dict(parsed[section].items()) if section in parsed else None


def _loads_toml(text: str) -> dict[str, object]:
    """The TOML parser is imported on first use: most runs read no TOML file (~1.5 ms at start-up).
    Its decoding error is a ``ValueError``."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    document: dict[str, object] = tomllib.loads(text)
    return document


def _toml(path: Path) -> dict[str, object]:
    try:
        document = _loads_toml(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        raise ConfigFileError(f"cannot read the pytest configuration file {path}: {error}") from None
    return document


def _pytest_ini(path: Path) -> Settings | None:
    """``pytest.ini`` configures pytest even without a ``[pytest]`` section."""
    return _ini_section(path, "pytest") or {}


def _tox_ini(path: Path) -> Settings | None:
    return _ini_section(path, "pytest")


def _setup_cfg(path: Path) -> Settings | None:
    return _ini_section(path, "tool:pytest")


def _pytest_toml(path: Path) -> Settings | None:
    """``pytest.toml`` configures pytest even without a ``[pytest]`` table."""
    table = _toml(path).get("pytest")
    return dict(table) if isinstance(table, dict) else {}


def _pyproject_toml(path: Path) -> Settings | None:
    tool = _toml(path).get("tool")
    tables = tool.get("pytest") if isinstance(tool, dict) else None
    if not isinstance(tables, dict):
        return None
    native = {key: value for key, value in tables.items() if key != "ini_options"}
    if native:
        return native
    ini_options = tables.get("ini_options")
    return dict(ini_options) if isinstance(ini_options, dict) else None


# pytest's configuration files, in the order pytest checks them in each folder.
_CONFIG_FILES: dict[str, Callable[[Path], Settings | None]] = {
    "pytest.toml": _pytest_toml,
    ".pytest.toml": _pytest_toml,
    "pytest.ini": _pytest_ini,
    ".pytest.ini": _pytest_ini,
    "pyproject.toml": _pyproject_toml,
    "tox.ini": _tox_ini,
    "setup.cfg": _setup_cfg,
}


@dataclass(frozen=True)
class Rootdir:
    """pytest's rootdir for a run started in a folder, and its configuration file if any."""

    path: Path
    config_file: Path | None
    settings: Settings

    @property
    def store(self) -> Path:
        """The store the plugin writes for this rootdir: ``otel_store`` from the
        configuration file, else ``.otel-pytest``, relative to the rootdir."""
        value = self.settings.get(STORE_KEY, "")
        if not isinstance(value, str):
            raise ConfigFileError(f"{self.config_file}: {STORE_KEY} is {value!r}, expected a folder name")
        return store_in(self.path, value)


def find_rootdir(start: Path) -> Rootdir:
    """The rootdir pytest picks when started in ``start`` without path arguments."""
    start = start.absolute()
    first_pyproject: Path | None = None
    for folder in (start, *start.parents):
        for name, read in _CONFIG_FILES.items():
            candidate = folder / name
            if not candidate.is_file():
                continue
            if name == "pyproject.toml" and first_pyproject is None:
                first_pyproject = candidate
            settings = read(candidate)
            if settings is not None:
                return Rootdir(folder, candidate, settings)
    if first_pyproject is not None:
        return Rootdir(first_pyproject.parent, first_pyproject, {})
    for folder in (start, *start.parents):
        if (folder / "setup.py").is_file():
            return Rootdir(folder, None, {})
    return Rootdir(start, None, {})


def default_store(start: Path) -> Path:
    """The store of the rootdir found from ``start``, relative to ``start`` where it can be
    (``.otel-pytest`` at the top, ``../.otel-pytest`` from ``tests/``), as messages show it."""
    store = find_rootdir(start).store
    try:
        return Path(os.path.relpath(store, start.absolute()))
    except ValueError:  # another drive on Windows
        return store


def service_name(env: Mapping[str, str], rootdir: Path) -> str:
    """``OTEL_SERVICE_NAME``, else the project name in ``pyproject.toml``, else the rootdir name:
    the plugin's ``service.name``, here so that ``analyze --jaeger`` finds the same service
    without being told."""
    if env.get("OTEL_SERVICE_NAME"):
        return env["OTEL_SERVICE_NAME"]
    pyproject = rootdir / "pyproject.toml"
    if pyproject.is_file():
        try:
            project = _loads_toml(pyproject.read_text(encoding="utf-8")).get("project")
        except (OSError, ValueError):
            project = None
        # A hand-written pyproject may have ``project = "x"``: only a table has a name.
        name = project.get("name") if isinstance(project, dict) else None
        if isinstance(name, str) and name:
            return str(name)
    return rootdir.name or "pytest"
