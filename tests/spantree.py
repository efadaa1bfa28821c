"""Reading a run back from the local store as a tree the tests can assert exactly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from otel_pytest.store.reader import ReadSpan, attribute_dict, read_spans


@dataclass
class Node:
    """One span and its children, ordered by start time."""

    read: ReadSpan
    children: list[Node] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.read.span.name or ""

    @property
    def attributes(self) -> dict[str, object]:
        return self.read.attributes

    @property
    def span_id(self) -> str:
        return (self.read.span.span_id or b"").hex()

    @property
    def trace_id(self) -> str:
        return (self.read.span.trace_id or b"").hex()

    @property
    def parent_id(self) -> str:
        return (self.read.span.parent_span_id or b"").hex()

    @property
    def links(self) -> list[str]:
        """The span ids this span links to."""
        return [(link.span_id or b"").hex() for link in self.read.span.links]

    @property
    def status_code(self) -> int:
        status = self.read.span.status
        return int(status.code or 0) if status is not None else 0

    @property
    def status_message(self) -> str:
        status = self.read.span.status
        return (status.message or "") if status is not None else ""

    def events(self) -> list[tuple[str, dict[str, object]]]:
        return [(event.name or "", attribute_dict(event.attributes)) for event in self.read.span.events]

    @property
    def start_ns(self) -> int:
        return int(self.read.span.start_time_unix_nano or 0)

    @property
    def duration_ns(self) -> int:
        return int(self.read.span.end_time_unix_nano or 0) - self.start_ns

    def shape(self) -> tuple[str, tuple[object, ...]]:
        """``(name, (child shapes...))``: the whole subtree's names, for exact comparison."""
        return (self.name, tuple(child.shape() for child in self.children))

    def child(self, name: str) -> Node:
        matches = [child for child in self.children if child.name == name]
        assert len(matches) == 1, f"{len(matches)} children named {name!r} under {self.name!r}"
        return matches[0]

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()


class Run:
    """All spans of one stored run, linked into trees."""

    def __init__(self, spans: list[ReadSpan]) -> None:
        self.spans = spans
        nodes = {span.span.span_id: Node(span) for span in spans}
        self.roots: list[Node] = []
        for node in sorted(nodes.values(), key=lambda n: n.start_ns):
            parent = nodes.get(node.read.span.parent_span_id or b"")
            (parent.children if parent is not None else self.roots).append(node)

    @classmethod
    def from_store(cls, store: Path) -> Run:
        files = sorted((store / "runs").glob("*.otlp.jsonl"))
        assert len(files) == 1, f"expected one run file in {store}, found {files}"
        return cls(list(read_spans(files[0])))

    def root(self, name: str) -> Node:
        matches = [root for root in self.roots if root.name == name]
        assert len(matches) == 1, f"{len(matches)} roots named {name!r}: {[r.name for r in self.roots]}"
        return matches[0]

    @property
    def session(self) -> Node:
        return self.root("pytest session")

    def named(self, name: str) -> list[Node]:
        return [node for root in self.roots for node in root.walk() if node.name == name]
