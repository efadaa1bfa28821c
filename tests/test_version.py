"""The version the package reports is the one ``pyproject.toml`` declares."""

from __future__ import annotations

import sys
from pathlib import Path

from otel_pytest.version import package_version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"


def test_the_package_reports_the_version_pyproject_declares() -> None:
    declared = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    assert package_version() == declared
