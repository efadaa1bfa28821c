"""The embedded trace store: run files (OTLP JSON Lines) and the run index."""
