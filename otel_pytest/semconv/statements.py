"""What a SQL statement is, read cheaply from its text: verb, table, fingerprint, transaction step.

The fingerprint groups executions of "the same statement" across tests and runs, the key
of N+1 detection and per-statement history: literals become ``?``, ``IN (…)`` lists and
``VALUES (…), (…)`` rows collapse to one, whitespace and case of keywords are normalised.
Statements reach us with placeholders, never bound values; literals written into the SQL
text are replaced, so the fingerprint is also safe to store.

Database errors quote bound values back, so their text is recorded under one policy,
wherever it lands (a query or connect span's status and ``exception`` event, a failed
test's exception message and traceback, on disk and over OTLP): it keeps the SQLSTATE
(``db.response.status_code``), the error class (``error.type``, ``exception.type``) and
the message with the names of the objects involved (constraint, table, column, type,
role), and it drops every value: PostgreSQL's ``DETAIL``, ``HINT``, ``CONTEXT``, ``WHERE``
and ``QUERY`` fields (``Key (v)=(...) already exists.``, ``Failing row contains (...)``),
a key value or failing row also where an application quotes it without the field's
label, SQLAlchemy's ``[parameters: ...]`` block, and, in a driver's own message, every
single-quoted string and every double-quoted word not named as an object
(:func:`redact_message`, :func:`hide_sql_parameters`).
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
# A double-quoted word and the word before it: PostgreSQL quotes object names and values alike.
_QUOTED_VALUE = re.compile(r'(?:\b([A-Za-z]+)\s+)?"([^"\n]*)"')
_OBJECT_NOUNS = frozenset(
    {
        "relation",
        "table",
        "column",
        "constraint",
        "index",
        "schema",
        "database",
        "role",
        "user",
        "type",
        "function",
        "procedure",
        "aggregate",
        "operator",
        "sequence",
        "view",
        "trigger",
        "extension",
        "savepoint",
        "cursor",
        "statement",
        "portal",
        "parameter",
        "collation",
        "domain",
        "tablespace",
        "policy",
        "publication",
        "subscription",
        "server",
        "channel",
        "attribute",
        "encoding",
    }
)
_VALUE_BEARING = re.compile(r"\[parameters: |\b(?:DETAIL|HINT|CONTEXT|WHERE|QUERY):[ \t]|\bKey \(|Failing row contains")
_FIELD = re.compile(r"\b(DETAIL|HINT|CONTEXT|WHERE|QUERY):[ \t][^\n]*")
_KEY_VALUES = re.compile(r"\bKey \((.*?)\)=\([^\n]*")
_FAILING_ROW = re.compile(r"\bFailing row contains \([^\n]*")
_SQLSTATE = re.compile(r"[0-9A-Z]{5}")
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
    """Any text (a driver's message, SQLAlchemy's wrapper of it, an application's exception
    that quotes one, a traceback) without the parts of database errors that carry values.

    Dropped wherever they stand, so also in an error an application wrapped on one line:
    SQLAlchemy's ``[parameters: ...]`` block; PostgreSQL's ``DETAIL:``, ``HINT:``,
    ``CONTEXT:``, ``WHERE:`` and ``QUERY:`` fields to the end of their line (``Key
    (v)=(...) already exists.``, ``Failing row contains (...)``, ``unnamed portal parameter
    $1 = '...'``); and a ``Key (<columns>)=(...)`` or ``Failing row contains (...)`` without
    its field label (an application printing ``error.detail``), whose values become ``?``
    and whose columns stay.
    """
    if not _VALUE_BEARING.search(text):
        return text
    text = _PARAMETERS.sub("[parameters hidden]", text)
    text = _FIELD.sub(r"\1: [hidden]", text)
    text = _KEY_VALUES.sub(r"Key (\1)=(?)", text)
    return _FAILING_ROW.sub("Failing row contains (?)", text)


def redact_message(message: str) -> str:
    """A database driver's error message under the plugin's policy: it keeps the error's
    text with the names of the objects involved (constraint, table, column, type, role:
    ``duplicate key value violates unique constraint "uq_user_email"``, ``relation
    "orders" does not exist``), and loses every value it quotes back: the value-bearing
    parts :func:`hide_sql_parameters` drops, every single-quoted string, and every
    double-quoted word not named as an object (PostgreSQL quotes values that way too:
    ``invalid input syntax for type integer: "hunter2"``, ``value "123" is out of range``).
    The SQLSTATE and the error class are recorded beside it, as ``db.response.status_code``
    and ``error.type``."""
    message = _QUOTED_VALUE.sub(_keep_object_names, hide_sql_parameters(message))
    return _STRING.sub("?", message)


def _keep_object_names(match: re.Match[str]) -> str:
    noun = match.group(1)
    if noun is not None and noun.lower() in _OBJECT_NOUNS:
        return match.group(0)
    return f'{match.group(0)[: match.start(2) - match.start(0)]}?"'


def sqlstate(error: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE of a driver's error (psycopg's and asyncpg's ``sqlstate``,
    psycopg2's ``pgcode``), also through SQLAlchemy's wrapper (``orig``) and its asyncpg
    adapter (``__cause__``)."""
    seen: BaseException | None = error
    for _ in range(4):
        if seen is None:
            return None
        for name in ("sqlstate", "pgcode"):
            code = getattr(seen, name, None)
            if isinstance(code, str) and _SQLSTATE.fullmatch(code):
                return code
        orig = getattr(seen, "orig", None)
        seen = orig if isinstance(orig, BaseException) else seen.__cause__
    return None


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
