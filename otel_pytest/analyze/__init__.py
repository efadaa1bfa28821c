"""The analyzer: history model, readers, detectors, statistics and reports. Never imports pytest."""
