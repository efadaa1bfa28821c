"""Reading a run back from the local store as a tree the tests can assert exactly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from otel_pytest.store.reader import Span, SpanDetail, read_spans


@dataclass
class Node:
    """One span (read in detail) with its resource, and its children ordered by start time."""

    span: Span
    resource: dict[str, object]
    children: list[Node] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.span.name

    @property
    def attributes(self) -> dict[str, object]:
        return self.span.attributes

    @property
    def span_id(self) -> str:
        return self.span.span_id

    @property
    def trace_id(self) -> str:
        return self.span.trace_id

    @property
    def parent_id(self) -> str:
        return self.span.parent_id

    @property
    def detail(self) -> SpanDetail:
        assert self.span.detail is not None, "read_spans reads every span in detail"
        return self.span.detail

    @property
    def links(self) -> list[str]:
        """The span ids this span links to."""
        return [link.span_id for link in self.detail.links]

    @property
    def status_code(self) -> int:
        return self.span.status

    @property
    def status_message(self) -> str:
        return self.detail.status_message

    def events(self) -> list[tuple[str, dict[str, object]]]:
        return [(event.name, event.attributes) for event in self.detail.events]

    @property
    def start_ns(self) -> int:
        return self.span.start

    @property
    def end_ns(self) -> int:
        return self.span.end

    @property
    def duration_ns(self) -> int:
        return self.span.end - self.span.start

    def shape(self, *, waits: bool = True) -> tuple[str, tuple[object, ...]]:
        """``(name, (child shapes...))``: the whole subtree's names, for exact comparison.
        ``waits=False`` leaves out the spans for the wider-scoped fixtures a phase waited for
        (``pytest.shared_fixture.name``): which test happens to set up a plugin's session
        fixtures (pytest-asyncio's event loop) is not what a test of database spans is about."""
        kept = [child for child in self.children if waits or "pytest.shared_fixture.name" not in child.attributes]
        return (self.name, tuple(child.shape(waits=waits) for child in kept))

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

    def __init__(self, spans: list[tuple[dict[str, object], Span]]) -> None:
        self.spans = [Node(span, resource) for resource, span in spans]
        nodes = {node.span_id: node for node in self.spans}
        self.roots: list[Node] = []
        for node in sorted(nodes.values(), key=lambda n: n.start_ns):
            parent = nodes.get(node.parent_id)
            (parent.children if parent is not None else self.roots).append(node)

    @classmethod
    def from_store(cls, store: Path) -> Run:
        files = sorted((store / "runs").glob("*.otlp.jsonl.zst"))
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
