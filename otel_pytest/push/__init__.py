"""``otel-pytest push``: stored runs (or OTLP JSON Lines files) sent to an OTLP endpoint later.

A run recorded while the collector was down, or on a machine without one, is in the local
store whole; pushing it sends the same spans, ids and times included, so the backend
shows it as if it had been exported at the time.

- :mod:`~otel_pytest.push.plan`: what to push where (run ids, files, ``--all``; the
  endpoint from the flag and the standard variables; runs already pushed there);
- :mod:`~otel_pytest.push.deliver`: sending the requests
  (:mod:`otel_pytest.encode.otlp_batches`) through the plugin's own transports
  (:func:`otel_pytest.sender.open_sender`), counting requests and retries, recording
  each run delivered (:mod:`otel_pytest.store.pushed`);
- :mod:`~otel_pytest.push.display`: the progress bar on a terminal, and the lines.
"""
