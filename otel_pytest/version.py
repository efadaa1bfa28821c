"""The installed otel-pytest's version, read from its distribution's metadata.

``pyproject.toml`` is the one place the version is written; the package reads it back from
the installed metadata instead of repeating it, so the resource attribute
``telemetry.distro.version``, the store's runs and ``otel-pytest --version`` can never
disagree with the wheel they came from. Looked up on call, not at import: importing the
package stays free of a scan of the installed distributions.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "otel-pytest"


def package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"
