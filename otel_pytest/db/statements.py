"""What a SQL statement is, read cheaply from its text: verb, table, fingerprint, transaction step.

The fingerprint groups executions of "the same statement" across tests and runs, the key
of N+1 detection and per-statement history: literals become ``?``, ``IN (…)`` lists and
``VALUES (…), (…)`` rows collapse to one, whitespace and case of keywords are normalised.
Statements reach us with placeholders, never bound values; literals written into the SQL
text are replaced, so the fingerprint is also safe to store.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

_STRING = re.compile(r"'(?:[^']|'')*'")
# A dollar-quote tag is empty or an identifier without "$" ($body1$); $1 is a placeholder.
_DOLLAR_QUOTED = re.compile(r"\$((?:[A-Za-z_]\w*)?)\$.*?\$\1\$", re.S)
_NUMBER = re.compile(r"(?<![\w$.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
# ":name" is a bind parameter, but "::type" is a cast (SQLAlchemy's asyncpg dialect writes
# "$1::VARCHAR"): the type name stays.
_PLACEHOLDER = re.compile(r"\$\d+|%\(\w+\)s|%s|(?<!:):\w+|\?")
# One value in a list, with the cast SQLAlchemy's PostgreSQL dialects add to every bind
# ("?::INTEGER", "?::TIMESTAMP WITHOUT TIME ZONE", "?::NUMERIC(?, ?)"): lists of casts collapse too.
_ITEM = r"\?(?:\s*::[^,()]+(?:\([^()]*\))?)?"
_ROW = rf"\(\s*{_ITEM}(?:\s*,\s*{_ITEM})*\s*\)"
_IN_LIST = re.compile(rf"\bIN\s*{_ROW}", re.I)
_VALUES_ROWS = re.compile(rf"({_ROW})(?:\s*,\s*{_ROW})+")
_SPACE = re.compile(r"\s+")
_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\s*(?:\n|\(Background|$))", re.S)
_QUOTED_VALUE = re.compile(r'"[^"\n]*"')
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_SAVEPOINT_NAME = re.compile(r"\b(SAVEPOINT|RELEASE(?:\s+SAVEPOINT)?|ROLLBACK\s+TO(?:\s+SAVEPOINT)?)\s+\"?\w+\"?", re.I)
_TABLE = re.compile(
    r'\b(?:FROM|INTO|UPDATE|TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?|JOIN)\s+((?:"[^"]+"|\w+)(?:\.(?:"[^"]+"|\w+))*)',
    re.I,
)

# Transaction-control statements, most specific first: a ROLLBACK TO SAVEPOINT must never
# be read as a top-level ROLLBACK.
_TRANSACTION_STEPS = (
    ("ROLLBACK TO SAVEPOINT", re.compile(r"ROLLBACK\s+(?:WORK\s+|TRANSACTION\s+)?TO\b", re.I)),
    ("RELEASE SAVEPOINT", re.compile(r"RELEASE\b", re.I)),
    ("SAVEPOINT", re.compile(r"SAVEPOINT\b", re.I)),
    ("BEGIN", re.compile(r"(?:BEGIN|START\s+TRANSACTION)\b", re.I)),
    ("COMMIT", re.compile(r"(?:COMMIT|END)\b", re.I)),
    ("ROLLBACK", re.compile(r"(?:ROLLBACK|ABORT)\b", re.I)),
)
TRANSACTION_STEPS = tuple(step for step, _ in _TRANSACTION_STEPS)
DDL_VERBS = frozenset({"CREATE", "DROP", "ALTER", "TRUNCATE", "COMMENT", "GRANT", "REVOKE"})


@dataclass(frozen=True)
class Statement:
    """The facts about one statement text, computed once per distinct text."""

    operation: str
    collection: str | None
    fingerprint: str
    fingerprint_id: str
    transaction_step: str | None

    @property
    def is_ddl(self) -> bool:
        return self.operation in DDL_VERBS

    @property
    def summary(self) -> str:
        """Low-cardinality span name: the transaction step, else ``<verb> <table>``."""
        if self.transaction_step:
            return self.transaction_step
        if self.collection:
            return f"{self.operation} {self.collection}"
        return self.operation or "query"


def sanitize(sql: str) -> str:
    """The statement as written, but with every literal as ``?``: what ``db.query.text``
    holds. Bound parameters never reach us; literals typed into SQL text might be secrets
    (the semantic conventions ask for the same sanitisation)."""
    text = _DOLLAR_QUOTED.sub("?", sql)
    text = _STRING.sub("?", text)
    return _NUMBER.sub("?", text)


def hide_sql_parameters(text: str) -> str:
    """Text without the ``[parameters: …]`` dump SQLAlchemy puts in its error messages
    (and so in tracebacks): those are the bound values, which may be secrets."""
    return _PARAMETERS.sub("[parameters hidden]", text) if "[parameters: " in text else text


def redact_message(message: str) -> str:
    """A driver's error message without the values it quotes back (PostgreSQL says
    ``invalid input syntax for type integer: "hunter2"``) nor the parameter dump."""
    message = _QUOTED_VALUE.sub('"?"', hide_sql_parameters(message))
    return _STRING.sub("?", message)


def normalise(sql: str) -> str:
    """The statement with literals and placeholders as ``?`` and lists collapsed."""
    text = _COMMENT.sub(" ", sql)
    text = _SAVEPOINT_NAME.sub(lambda m: f"{m.group(1).upper()} ?", text)
    text = _DOLLAR_QUOTED.sub("?", text)
    text = _STRING.sub("?", text)
    text = _PLACEHOLDER.sub("?", text)
    text = _NUMBER.sub("?", text)
    text = _SPACE.sub(" ", text).strip().rstrip(";").strip()
    text = _IN_LIST.sub("IN (?)", text)
    return _VALUES_ROWS.sub(r"\1", text)


def transaction_step(sql: str) -> str | None:
    """``BEGIN``, ``COMMIT``, ``ROLLBACK``, ``SAVEPOINT``, ``ROLLBACK TO SAVEPOINT`` or
    ``RELEASE SAVEPOINT`` when the statement is one, else ``None``."""
    text = sql.lstrip()
    for step, pattern in _TRANSACTION_STEPS:
        if pattern.match(text):
            return step
    return None


@lru_cache(maxsize=4096)
def describe(sql: str) -> Statement:
    """Parse a statement's text; cached, since a suite runs the same few hundred texts."""
    fingerprint = normalise(sql)
    words = fingerprint.split(" ", 1)
    operation = words[0].upper() if words[0] else ""
    table = _TABLE.search(fingerprint)
    collection = table.group(1).replace('"', "") if table else None
    digest = hashlib.blake2b(fingerprint.encode(), digest_size=8).hexdigest()
    return Statement(operation, collection, fingerprint, digest, transaction_step(sql))
