"""What ``otel-pytest push`` sends where, decided before anything is sent.

Runs are named as ``otel-pytest runs`` lists them: a run id or a unique prefix of one (or
``--all``, oldest first); an argument that is an existing file is pushed as OTLP JSON
Lines (its spans and metrics), and is not recorded in any store. The endpoint comes from
``--endpoint`` or the standard ``OTEL_EXPORTER_OTLP_*`` variables, resolved as the plugin
resolves them (:mod:`otel_pytest.endpoint`); the exporter reads the headers, compression
and certificate variables itself. A run already pushed to the same endpoint (the store's
:mod:`~otel_pytest.store.pushed` log) is skipped unless ``--force``.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from otel_pytest.encode.limits import Limits
from otel_pytest.endpoint import Endpoint, SettingError, metrics_endpoint, request_timeout, traces_endpoint
from otel_pytest.export import ExportSetupError, check_exporter, signal_url
from otel_pytest.identity import strip_credentials
from otel_pytest.store import files
from otel_pytest.store.index import RunEntry, RunIndex
from otel_pytest.store.layout import METRICS, RUNS
from otel_pytest.store.pushed import PushLog


class PushError(Exception):
    """Nothing (more) can be pushed; the message is the one line to show."""


@dataclass(frozen=True)
class Item:
    """One thing to push: a stored run (``entry``) or a file given by path."""

    name: str  # the run id, or the path as given
    paths: tuple[Path, ...]  # its spans file, then its metrics file if there is one
    entry: RunEntry | None = None


@dataclass(frozen=True)
class Target:
    """Where one signal goes: the URL used, the URL shown, the protocol."""

    url: str
    shown: str
    protocol: str

    @classmethod
    def of(cls, endpoint: Endpoint, signal: str) -> Target:
        url = signal_url(endpoint, signal)
        return cls(url, strip_credentials(url), endpoint.protocol)


@dataclass(frozen=True)
class Plan:
    """Everything resolved: the items in order, the runs skipped, the targets, the limits."""

    items: tuple[Item, ...]
    skipped: tuple[str, ...]  # run ids already pushed to the traces target
    store: Path
    traces: Target
    metrics: Target | None
    timeout: float
    limits: Limits


def _targets(flag: str | None, protocol: str | None, env: Mapping[str, str]) -> tuple[Target, Target | None]:
    try:
        traces = traces_endpoint(flag, env, protocol)
        metrics = metrics_endpoint(flag, env, protocol)
        check_exporter([traces, metrics])
    except (SettingError, ExportSetupError) as error:
        raise PushError(str(error)) from None
    if traces is None:
        raise PushError(
            "no endpoint to push to: give --endpoint URL or set OTEL_EXPORTER_OTLP_ENDPOINT "
            "(OTEL_TRACES_EXPORTER or OTEL_SDK_DISABLED may have turned the spans off)"
        )
    return Target.of(traces, "traces"), Target.of(metrics, "metrics") if metrics else None


def _entries(store: Path) -> list[RunEntry]:
    mode, unseen = files.look(store)
    if unseen or mode is None or not stat.S_ISDIR(mode):
        why = unseen or ("nothing there" if mode is None else f"it is {files.what_is(mode)}")
        raise PushError(f"no trace store at {store} ({why}): run pytest with --otel first, or pass --store DIR")
    try:
        entries, _problems = RunIndex(store).entries()  # `otel-pytest runs` names the damaged lines
    except OSError as error:
        raise PushError(f"cannot read the run index in {store}: {files.reason(error)}") from None
    return entries


def _item(entry: RunEntry, store: Path) -> Item:
    metrics = store / METRICS / entry.file
    mode, _unseen = files.look(metrics)
    paths = (store / RUNS / entry.file, *((metrics,) if mode is not None else ()))
    return Item(entry.run_id, paths, entry)


def _match(name: str, entries: Sequence[RunEntry], store: Path) -> RunEntry:
    matches = [entry for entry in entries if entry.run_id.startswith(name.lower())] if name else []
    if not matches:
        raise PushError(
            f"no run {name!r} in {store}: `otel-pytest runs --store {store}` lists the run ids "
            "(a unique prefix is enough; a file to push must exist)"
        )
    if len(matches) > 1:
        ids = ", ".join(entry.run_id for entry in matches[:5])
        raise PushError(f"{name!r} is the start of {len(matches)} run ids ({ids}): give more of it")
    return matches[0]


def _items(names: Sequence[str], every: bool, store: Path) -> list[Item]:
    if every and names:
        raise PushError("give run ids or files, or --all, not both")
    if not every and not names:
        raise PushError("name the runs to push (run ids as `otel-pytest runs` lists them, or files), or --all")
    if every:
        stored = _entries(store)
        if not stored:
            raise PushError(f"no runs in {store} yet: run pytest with --otel")
        return [_item(entry, store) for entry in stored]
    items: list[Item] = []
    entries: list[RunEntry] | None = None
    for name in names:
        mode, unseen = files.look(name)
        if unseen:
            raise PushError(f"{name}: cannot look at it ({unseen})")
        if mode is not None and not stat.S_ISREG(mode):
            raise PushError(f"{name}: is {files.what_is(mode)}; give OTLP JSON Lines files or run ids")
        if mode is not None:
            item = Item(name, (Path(name),))
        else:
            if entries is None:
                entries = _entries(store)
            item = _item(_match(name, entries, store), store)
        if item not in items:
            items.append(item)
    return items


def make_plan(
    names: Sequence[str],
    *,
    every: bool,
    store: Path,
    endpoint: str | None,
    protocol: str | None,
    timeout: float | None,
    limits: Limits,
    force: bool,
    env: Mapping[str, str],
) -> Plan:
    """The plan, or :class:`PushError` naming the first thing wrong with the request."""
    traces, metrics = _targets(endpoint, protocol, env)
    try:
        seconds = request_timeout(timeout, env)
    except SettingError as error:
        raise PushError(str(error)) from None
    items = _items(names, every, store)
    skipped: list[str] = []
    if not force:
        done = PushLog(store).keys()
        kept = []
        for item in items:
            if item.entry is not None and (item.entry.file, traces.shown, traces.protocol) in done:
                skipped.append(item.name)
            else:
                kept.append(item)
        items = kept
    return Plan(tuple(items), tuple(skipped), store, traces, metrics, seconds, limits)
