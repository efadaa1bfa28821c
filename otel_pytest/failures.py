"""What the plugin keeps of a failure: the text of ``exception`` events and error statuses.

pytest's own failure text (``report.longreprtext``) is made for the terminal: under ``-vv``
or ``--showlocals`` it holds local variables, call arguments and the full reprs of what an
assertion touched (``os.environ`` with the CI token in it, a password argument). Traces go
to shared backends, so that text is never recorded. The plugin builds its own from the
exception, as ``--otel-record-failures`` says:

- ``message`` (the default): the exception type and the first line of its message, at
  most 500 characters. That line says what failed (``assert 1 == 2``, ``relation "?" does
  not exist``); the lines after it are where pytest puts its diffs and ``where`` reprs and
  drivers their ``DETAIL`` values, and the frames are in the terminal and the CI log.
- ``traceback``: that, and a traceback of ``File "path", line N, in function`` lines only
  (no source line, no local variable, no argument value), at most 30 frames per exception
  (the outermost 10 and the innermost 20) and 3 chained exceptions, 8,192 characters in all.
- ``none``: the exception type alone.

In every mode the text is scrubbed before it is bounded: a mapping that looks like an
environment dump (``environ({...})``, or two or more keys named like variables of the
current environment) is replaced by ``<environment removed>``; then every value of the
current environment longer than 6 characters (and every such line of a multi-line value)
is replaced by ``<redacted>``; SQLAlchemy's ``[parameters: ...]`` block is hidden, and a
database driver's error loses the values it quotes back.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType, TracebackType

from otel_pytest.options import DEFAULT_RECORD_FAILURES, RECORD_FAILURES
from otel_pytest.records import AttributeValue
from otel_pytest.semconv import attributes as attr

REDACTED = "<redacted>"
ENVIRONMENT_REMOVED = "<environment removed>"

MAX_MESSAGE = 500
MAX_TRACEBACK = 8192
MAX_CHAIN = 3
OUTER_FRAMES = 10
INNER_FRAMES = 20
_MIN_SECRET = 7
_MAX_SCANNED = 65536  # of a message, before its first line is taken
_DATABASE_MODULES = ("sqlalchemy", "asyncpg", "psycopg", "psycopg2")
# Frames of the machinery between pytest's call and the test: pytest's own tracebacks
# leave them out too.
_MACHINERY = ("_pytest", "pluggy", "otel_pytest")
_ENV_KEY = re.compile(r"""['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*:""")
_SDK_KEPT_LINE = re.compile(
    r'(\s*File ")([^"\n]*)(", line \d+, in .*)|Traceback \(most recent call last\):'
    r"|The above exception was the direct cause of the following exception:"
    r"|During handling of the above exception, another exception occurred:"
)
_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"


def _dump_end(line: str, start: int) -> int:
    """Where a mapping repr starting at ``start`` ends (``environ(`` and its closing
    parenthesis included): its braces matched, quoted text skipped; the line's end if cut."""
    depth, quote, index = 0, "", start
    while index < len(line):
        char = line[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "{(":
            depth += 1
        elif char in "})":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(line)


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _sql_clean(error_type: type[BaseException], text: str) -> str:
    """Without the bound values SQLAlchemy prints and drivers quote back. The statement
    parser is imported on the first failure: a run whose tests pass never loads it (~2.6 ms
    of start-up, ``-X importtime``)."""
    from otel_pytest.semconv.statements import hide_sql_parameters, redact_message

    if error_type.__module__.startswith(_DATABASE_MODULES):
        return redact_message(text)
    return hide_sql_parameters(text)


def _hidden(frame: FrameType, machinery: tuple[str, ...]) -> bool:
    if frame.f_code.co_filename.startswith(machinery):
        return True
    # pytest's convention for helpers that should not show in tracebacks; only the
    # flag's presence is read, never a value of the frame.
    hide = frame.f_locals.get("__tracebackhide__", frame.f_globals.get("__tracebackhide__", False))
    return bool(hide) and not callable(hide)


def _machinery_folders() -> tuple[str, ...]:
    folders = []
    for name in _MACHINERY:
        module = sys.modules.get(name)
        origin = getattr(module, "__file__", None)
        if origin:
            folders.append(os.path.dirname(origin) + os.sep)
    return tuple(folders)


class FailureText:
    """The failure text policy of one run; see the module docstring."""

    def __init__(
        self, mode: str = DEFAULT_RECORD_FAILURES, environ: Mapping[str, str] | None = None, rootdir: Path | None = None
    ) -> None:
        if mode not in RECORD_FAILURES:
            raise ValueError(f"unknown failure text mode {mode!r}")
        self.mode = mode
        self._environ = os.environ if environ is None else environ
        self._root = str(rootdir) + os.sep if rootdir is not None else None
        self._machinery: tuple[str, ...] | None = None
        self._values: tuple[str, ...] = ()
        self._secrets: list[str] = []

    # -- scrubbing ---------------------------------------------------------------------

    def _secret_values(self) -> list[str]:
        """The environment's values worth hiding, longest first; recomputed only when the
        environment changed since the last failure."""
        values = tuple(self._environ.values())
        if values != self._values:
            secrets = {value for value in values if len(value) >= _MIN_SECRET}
            secrets.update(
                line.strip()
                for value in values
                if "\n" in value
                for line in value.splitlines()
                if len(line.strip()) >= _MIN_SECRET
            )
            self._values, self._secrets = values, sorted(secrets, key=len, reverse=True)
        return self._secrets

    def _drop_environment_dumps(self, text: str) -> str:
        if "environ(" not in text and text.count(":") < 2:
            return text
        names = self._environ.keys()
        lines = text.split("\n")
        for number, line in enumerate(lines):
            while True:
                start = line.find("environ(")
                if start < 0:
                    keys = [match for match in _ENV_KEY.finditer(line) if match.group(1) in names]
                    if len(keys) < 2:
                        break
                    start = line.rfind("{", 0, keys[0].start())
                    if start < 0:
                        start = keys[0].start()
                line = line[:start] + ENVIRONMENT_REMOVED + line[_dump_end(line, start) :]
            lines[number] = line
        return "\n".join(lines)

    def scrub(self, text: str) -> str:
        """``text`` without environment dumps and without any value of the environment."""
        text = self._drop_environment_dumps(text)
        for secret in self._secret_values():
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def message(self, error_type: type[BaseException], text: str) -> str:
        """The first line of a message: cleaned of SQL values, scrubbed, bounded."""
        line = _first_line(_sql_clean(error_type, text[:_MAX_SCANNED]))
        return _bounded(self.scrub(line), MAX_MESSAGE)

    # -- the plugin's own failures -----------------------------------------------------

    def attributes(self, error: BaseException, message: str | None = None) -> dict[str, AttributeValue]:
        """The ``exception`` event's attributes; ``message`` replaces the error's own text
        (the database layer passes one without the values a driver quotes back)."""
        attributes: dict[str, AttributeValue] = {attr.EXCEPTION_TYPE: type(error).__qualname__}
        if self.mode == "none":
            return attributes
        text = self.message(type(error), _text_of(error) if message is None else message)
        if text:
            attributes[attr.EXCEPTION_MESSAGE] = text
        if self.mode == "traceback":
            attributes[attr.EXCEPTION_STACKTRACE] = self.traceback(error)
        return attributes

    def traceback(self, error: BaseException) -> str:
        """Python's traceback layout, oldest exception of the chain first, without source
        lines, locals or the machinery's frames."""
        chain: list[tuple[BaseException, str]] = []
        current: BaseException | None = error
        link = ""
        while current is not None and len(chain) < MAX_CHAIN and all(current is not seen for seen, _ in chain):
            chain.append((current, link))
            if current.__cause__ is not None:
                current, link = current.__cause__, _CAUSE
            elif current.__context__ is not None and not current.__suppress_context__:
                current, link = current.__context__, _CONTEXT
            else:
                current = None
        blocks = []
        for index in range(len(chain) - 1, -1, -1):
            exception, link_to_newer = chain[index]
            lines = ["Traceback (most recent call last):", *self._frames(exception.__traceback__)]
            message = self.message(type(exception), _text_of(exception))
            name = _qualified_name(type(exception))
            lines.append(f"{name}: {message}" if message else name)
            if index > 0:
                lines.extend(("", link_to_newer, ""))
            blocks.append("\n".join(lines))
        text = self.scrub("\n".join(blocks))
        if len(text) > MAX_TRACEBACK:  # keep the innermost part, from a line start
            tail = text[-(MAX_TRACEBACK - 4) :]
            text = "...\n" + tail[tail.find("\n") + 1 :]
        return text

    def _frames(self, traceback: TracebackType | None) -> list[str]:
        if self._machinery is None:
            self._machinery = _machinery_folders()
        lines = []
        while traceback is not None:
            frame = traceback.tb_frame
            if not _hidden(frame, self._machinery):
                code = frame.f_code
                lines.append(
                    f'  File "{self._path(code.co_filename)}", line {traceback.tb_lineno}, '
                    f"in {getattr(code, 'co_qualname', code.co_name)}"
                )
            traceback = traceback.tb_next
        if len(lines) > OUTER_FRAMES + INNER_FRAMES:
            omitted = len(lines) - OUTER_FRAMES - INNER_FRAMES
            lines[OUTER_FRAMES:-INNER_FRAMES] = [f"  ... {omitted} frames omitted ..."]
        return lines

    def _path(self, path: str) -> str:
        if self._root is not None and path.startswith(self._root):
            return path[len(self._root) :]
        return path

    def status(self, error: BaseException, attributes: Mapping[str, AttributeValue]) -> str:
        """A span's status message: ``Type: message`` (or the type alone)."""
        message = attributes.get(attr.EXCEPTION_MESSAGE)
        name = type(error).__qualname__
        return f"{name}: {message}" if message else name

    # -- failures recorded by the OpenTelemetry SDK (application spans) ----------------

    def sdk_event(self, attributes: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
        """An SDK ``exception`` event (``record_exception`` keeps the whole message and a
        traceback with source lines) under the same policy."""
        kept = {
            key: value
            for key, value in attributes.items()
            if key not in (attr.EXCEPTION_MESSAGE, attr.EXCEPTION_STACKTRACE)
        }
        name = str(attributes.get(attr.EXCEPTION_TYPE, ""))
        if self.mode == "none":
            return kept
        message = self.message(Exception, str(attributes.get(attr.EXCEPTION_MESSAGE, "")))
        if message:
            kept[attr.EXCEPTION_MESSAGE] = message
        stacktrace = attributes.get(attr.EXCEPTION_STACKTRACE)
        if self.mode == "traceback" and isinstance(stacktrace, str):
            lines = []
            for line in stacktrace.splitlines():
                kept_line = _SDK_KEPT_LINE.fullmatch(line)
                if kept_line is not None:
                    start, path, rest = kept_line.groups()
                    lines.append(line if path is None else start + self._path(path) + rest)
            lines.append(f"{name}: {message}" if message else name)
            kept[attr.EXCEPTION_STACKTRACE] = _bounded(self.scrub("\n".join(lines)), MAX_TRACEBACK)
        return kept

    def sdk_status(self, description: str) -> str:
        """An SDK span's status description (``Type: message`` when the SDK set it from an
        exception); dropped in ``none`` mode, where no message is kept."""
        if self.mode == "none" or not description:
            return ""
        return self.message(Exception, description)


def _text_of(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # a broken __str__ must not cost the record
        return f"<unprintable {type(error).__qualname__}>"


def _qualified_name(error_type: type[BaseException]) -> str:
    module = error_type.__module__
    if module in ("builtins", "__main__"):
        return error_type.__qualname__
    return f"{module}.{error_type.__qualname__}"
