"""Sizes as people write them (``500MB``, ``1GB``): the store's size limit, read by the
plugin's options and ``otel-pytest store unpack``. Light on purpose (``re`` only): the
plugin reads its options before anything else loads."""

from __future__ import annotations

import re

_PREFIXES = "kmgt"  # kilo (1000 or, with i, 1024), mega, giga, tera
_SIZE = re.compile(rf"\s*(\d+(?:\.\d+)?)\s*([{_PREFIXES}]?)(i?)b?\s*", re.IGNORECASE)


def parse_size(setting: str, value: str) -> int | None:
    """Bytes from ``500MB``, ``1GB``, ``1.5GiB``, ``200000`` (KB, MB, GB, TB are powers of
    1000, KiB, MiB, GiB, TiB of 1024); ``None`` for ``none`` (no limit). ``ValueError``
    with one line naming ``setting``, the value and what is accepted."""
    if value.strip().lower() == "none":
        return None
    match = _SIZE.fullmatch(value)
    if match is not None and not (match.group(3) and not match.group(2)):
        number, prefix, binary = match.groups()
        power = _PREFIXES.index(prefix.lower()) + 1 if prefix else 0
        size = int(float(number) * (1024 if binary else 1000) ** power)
        if size >= 1:
            return size
    raise ValueError(
        f"{setting}={value!r} is not a size: use a number and a unit, as 500MB or 1GB "
        "(KB, MB, GB, TB; KiB, MiB, GiB, TiB), or none for no limit"
    )
