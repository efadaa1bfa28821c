"""Renderers: one module per format, each a ``render(analysis) -> str`` of an :class:`Analysis`.

Renderers only present what the analysis holds; they never import detectors or recompute
findings. ``json_report`` is the canonical, versioned form (``docs/report-schema.md``); the
terminal, Markdown and HTML views show the same data for people.
"""
