"""The store's layout, named once: the plugin writes it, ``otel-pytest`` and the analyzer
read it. Plain names only, so importing them costs nothing (the command line must not
load pytest to learn where the store is)."""

from pathlib import Path

DEFAULT_STORE = ".otel-pytest"  # in the rootdir
RUNS = "runs"  # run files: <start>_<run id>.otlp.jsonl.zst or .gz (.otlp.jsonl uncompressed)
METRICS = "metrics"  # each run's metrics, under its run file's name
SUMMARIES = "summaries"  # the analyzer's cached per-run summaries: <run file>.json
INDEX = "index.jsonl"  # one line per run
PUSHED = "pushed.jsonl"  # which runs otel-pytest push delivered where
DEFAULT_KEEP_RUNS = 100  # runs a store keeps (otel_keep_runs), also when a pack is unpacked into it
# Bytes of runs a store keeps (otel_keep_size): 100 runs of a 2,000-test database suite
# (~100 k spans, ~5 MB compressed) fit; uncompressed they would take ~5 GB.
DEFAULT_KEEP_SIZE = "1GB"


def store_in(rootdir: Path, setting: str) -> Path:
    """The store an ``otel_store`` ini value names: relative to the rootdir, like pytest's
    own ini paths; blank means the default (never the rootdir itself)."""
    return rootdir / (setting.strip() or DEFAULT_STORE)
