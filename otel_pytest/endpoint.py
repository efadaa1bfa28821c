"""Where each signal goes over OTLP: an endpoint flag and the standard variables, resolved
the way the OpenTelemetry SDK reads them.

The plugin (``--otel-endpoint``) and ``otel-pytest push`` (``--endpoint``) resolve their
endpoints here, so a run exported at its end and a run pushed later go to the same place
under the same settings. No pytest here: the command line must not load it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

PROTOCOLS = ("http/protobuf", "grpc")
DEFAULT_REQUEST_TIMEOUT = 10.0  # seconds per request, retries included: the SDK exporters' default
_TIMEOUT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")


class SettingError(ValueError):
    """A setting has a value we cannot use; the message is the one line the user sees."""


@dataclass(frozen=True)
class Endpoint:
    """Where to send one signal over OTLP, already validated; ``url`` as the user gave it
    (:func:`otel_pytest.identity.strip_credentials` makes what the terminal shows)."""

    url: str
    protocol: str
    # True when the user gave the signal's full URL (…/v1/traces), which is used as is.
    signal_specific: bool


def check_url(setting: str, value: str, what: str = "an OTLP endpoint") -> str:
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        # Imported here: the command line (its parser checks --endpoint) must not load the
        # plugin's identity detection into the analyzer.
        from otel_pytest.identity import strip_credentials

        shown = strip_credentials(value)  # a URL may carry a token: never echo it
        raise SettingError(f"{setting}={shown!r} is not {what}: expected http://host:port or https://host:port")
    return value


def check_protocol(setting: str, value: str) -> str:
    if value not in PROTOCOLS:
        accepted = ", ".join(PROTOCOLS)
        raise SettingError(f"{setting}={value!r} is not supported: use one of {accepted}")
    return value


def _protocol(env: Mapping[str, str], signal: str, flag: str | None) -> str:
    if flag:
        return flag
    protocol_names = (f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
    setting = next((name for name in protocol_names if env.get(name)), None)
    return check_protocol(setting, env[setting].strip()) if setting else "http/protobuf"


def _exports(env: Mapping[str, str], signal: str, *, flag: bool = False) -> bool:
    """``OTEL_SDK_DISABLED`` and ``OTEL_{TRACES,METRICS}_EXPORTER``, as the SDK reads them:
    a signal goes over OTLP unless the SDK is disabled or its exporter list lacks ``otlp``.
    An endpoint flag is the more specific choice: it wins over both for spans (what it
    names), and over ``OTEL_SDK_DISABLED`` for metrics."""
    if flag and signal == "TRACES":
        return True
    if not flag and env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = env.get(f"OTEL_{signal}_EXPORTER", "").strip().lower()
    return not exporters or "otlp" in (name.strip() for name in exporters.split(","))


def _env_endpoint(
    env: Mapping[str, str], signal: str, protocol: str | None, *, general: bool = True
) -> Endpoint | None:
    """The signal's own variable (used as is), else the general one (a base URL)."""
    names = [(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", True)]
    if general:
        names.append(("OTEL_EXPORTER_OTLP_ENDPOINT", False))
    for name, specific in names:
        value = env.get(name, "").strip()
        if value:
            return Endpoint(check_url(name, value), _protocol(env, signal, protocol), signal_specific=specific)
    return None


def _names_traces(flag: str) -> bool:
    return urlsplit(flag).path.rstrip("/").endswith("/v1/traces")


def traces_endpoint(
    flag: str | None, env: Mapping[str, str], protocol: str | None = None, *, fallback: str | None = None
) -> Endpoint | None:
    """The collector to send spans to, if any: the flag (checked by its parser), else the
    variables, else ``fallback`` (the plugin's ini key). A URL ending in the traces path
    is used as is. The protocol (a flag, else the variables) is only checked when there
    is an endpoint: other SDKs sharing the environment may use values we don't (http/json)."""
    if not _exports(env, "TRACES", flag=bool(flag)):
        return None
    found = None if flag else _env_endpoint(env, "TRACES", protocol)
    given = flag or fallback
    if found is None and given:
        found = Endpoint(given, _protocol(env, "TRACES", protocol), signal_specific=_names_traces(given))
    return found


def metrics_endpoint(
    flag: str | None, env: Mapping[str, str], protocol: str | None = None, *, fallback: str | None = None
) -> Endpoint | None:
    """Where metrics go: ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``, else the general endpoint
    (a base-URL flag stands for the general variable; ``fallback``, the ini key, comes
    below it). A traces-only URL (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, a flag ending in
    ``/v1/traces``) says nothing about metrics: they are not exported."""
    if not _exports(env, "METRICS", flag=bool(flag)):
        return None
    given = flag or fallback
    base = given if given and not _names_traces(given) else None
    found = _env_endpoint(env, "METRICS", protocol, general=not (flag and base))
    if found is None and base:
        found = Endpoint(base, _protocol(env, "METRICS", protocol), signal_specific=False)
    return found


def request_timeout(flag: float | None, env: Mapping[str, str]) -> float:
    """How long one request may take, its retries included: the flag, else the standard
    variables, in seconds as the Python SDK reads them, else the SDK's default."""
    if flag is not None:
        return flag
    for name in _TIMEOUT_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            try:
                seconds = float(value)
            except ValueError:
                seconds = 0.0
            if not seconds > 0:
                raise SettingError(f"{name}={value!r} is not a number of seconds above 0")
            return seconds
    return DEFAULT_REQUEST_TIMEOUT
