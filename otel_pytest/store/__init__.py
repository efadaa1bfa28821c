"""The embedded trace store, ``.otel-pytest/``: where a run is written and where it is read.

- :mod:`~otel_pytest.store.layout`: the folder and file names, defined once;
- :mod:`~otel_pytest.store.writer`: the one writer (a run's OTLP JSON Lines file, xdist
  parts, the metrics file, orphans adopted) used by the plugin;
- :mod:`~otel_pytest.store.index`: the run index (one line per run) and retention;
- :mod:`~otel_pytest.store.lock`: the store lock and the writer locks;
- :mod:`~otel_pytest.store.reader`: the one reader and decoder of OTLP JSON, for run files
  and any other OTLP JSON Lines file;
- :mod:`~otel_pytest.store.files`: reading only regular files, in lines of bounded length;
- :mod:`~otel_pytest.store.summaries`: the cache of each run file's summaries;
- :mod:`~otel_pytest.store.pushed`: which runs ``otel-pytest push`` delivered to which endpoint.
- :mod:`~otel_pytest.store.pack`: the store's complete runs as one file, and merged back
  (``otel-pytest store pack|unpack``, to carry the history between CI jobs).

The store knows nothing of the analyzer: the analyzer's sources
(:mod:`otel_pytest.analyze.sources`) read through it and hand it the codec of what it caches.
"""
