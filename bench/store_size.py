"""What a run takes on disk, per span: plain, and compressed the ways a run file could be.

Records two suites three times each, into stores of their own: ``--otel --no-otel-compress``
(the plain OTLP JSON Lines a run writes), ``--otel --otel-compression=gzip``
(``.otlp.jsonl.gz``) and ``--otel --otel-compression=zstd`` (``.otlp.jsonl.zst``, what
``--otel`` writes by default when the ``zstd`` extra is installed):

* the **trivial suite** of ``bench/overhead.py`` (default 20 modules x 100 tests, three yield
  fixtures each);
* the demo's **slow suite** (``examples/shop`` with ``fixtures_slow``, as ``scripts/demo``
  runs it: an engine, ``create_all`` and cleanup by commit and delete per test, so database
  spans), on ``DATABASE_URL`` or a throwaway PostgreSQL (``examples/postgres.py``).

Then, in this process, compresses the plain file's lines the ways a writer could, and times
the CPU each costs (``time.process_time``, best of ``--repeat``): one gzip stream
sync-flushed after every line (each test readable as soon as it is written) at zlib levels
1, 3, 6 and 9; a gzip member per line (as readable, but each line compressed alone); the
whole file at once (the best gzip can do, but nothing readable until the end); one zstd
frame block-flushed after every line at levels 1, 3 and 9. Last, the CPU the plugin's own
writer (``RunFile.write``: compress, write, flush) spends on each line, plain, gzip and
zstd, and the reader's to read the file back, alternated round by round in this process.
Prints Markdown and replaces this benchmark's section of ``docs/benchmarks.md``
(``--no-docs`` to skip).

Run from the repository root (with the ``zstd`` extra, as the dev extra installs it)::

    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m bench.store_size
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness import (
    BenchError,
    command_line,
    machine_facts,
    positive,
    progress,
    publish,
    section_head,
)
from bench.overhead import write_suite
from otel_pytest.store.compression import (
    GZIP,
    LEVEL,
    ZSTD,
    ZSTD_LEVEL,
    Codec,
    GzipLines,
    ZstdLines,
    available,
    member,
    read_decoded,
)
from otel_pytest.store.index import RunIndex, run_file_name
from otel_pytest.store.writer import RunFile

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
TARGET_BYTES_PER_SPAN = 60


CODECS = (None, GZIP, ZSTD)  # plain, then the compressed formats, as the plugin writes them


def _label(codec: Codec | None) -> str:
    return "plain" if codec is None else codec.name


@dataclass(frozen=True)
class Recorded:
    """One suite recorded plain and compressed."""

    name: str
    tests: int
    files: dict[str, tuple[Path, int]]  # _label(codec) -> the run file the plugin wrote, its spans


@dataclass(frozen=True)
class Way:
    label: str
    size: int
    cpu: float  # seconds for the whole file


def _pytest(label: str, arguments: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
    progress(f"{label}: python -m pytest {' '.join(arguments)}")
    done = subprocess.run([sys.executable, "-m", "pytest", *arguments], cwd=cwd, env=env, capture_output=True)
    if done.returncode != 0:
        raise BenchError(f"{label} failed ({done.returncode}):\n{done.stdout.decode()[-2000:]}")


def _record(name: str, store: Path, arguments: Sequence[str], cwd: Path, env: dict[str, str]) -> Recorded:
    """The suite run plain, gzip and zstd, each into a store of its own."""
    files = {}
    for codec in CODECS:
        folder = store / _label(codec)
        extra = "--no-otel-compress" if codec is None else f"--otel-compression={codec.name}"
        _pytest(name, ["--otel", f"--otel-store={folder}", extra, *arguments], cwd, env)
        (entry,), _problems = RunIndex(folder).entries()
        files[_label(codec)] = (folder / "runs" / entry.file, entry.spans)  # gc pause spans vary
    return Recorded(name, entry.tests, files)


def _trivial(workdir: Path, modules: int, tests_per_module: int) -> Recorded:
    suite = write_suite(workdir / "trivial", modules, tests_per_module)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return _record(
        f"trivial suite ({suite.tests:,} tests)",
        workdir / "trivial-store",
        ["-q", "-p", "no:cacheprovider"],
        suite.root,
        env,
    )


def _slow_demo(workdir: Path) -> Recorded:
    from examples.postgres import database_url

    arguments = [
        "-p",
        "examples.shop.fixtures_slow",
        "-c",
        "examples/shop/pytest.ini",
        "-q",
        "-p",
        "no:cacheprovider",
        "examples/shop/tests",
    ]
    with database_url() as url:
        env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False)}
        return _record("demo's slow suite", workdir / "demo-store", arguments, ROOT, env)


def _cpu(action: Callable[[], int], repeat: int) -> tuple[int, float]:
    best = float("inf")
    size = 0
    for _ in range(repeat):
        began = time.process_time()
        size = action()
        best = min(best, time.process_time() - began)
    return size, best


def _ways(lines: Sequence[bytes], repeat: int) -> Iterator[Way]:
    def streamed(kind: Callable[[int], GzipLines | ZstdLines], level: int) -> Callable[[], int]:
        def run() -> int:
            compressor = kind(level)
            return sum(len(compressor.compress(line)) for line in lines) + len(compressor.finish())

        return run

    for level in (1, 3, 6, 9):
        chosen = " (the plugin's)" if level == LEVEL else ""
        yield Way(f"gzip stream, sync flush per line, level {level}{chosen}", *_cpu(streamed(GzipLines, level), repeat))
    yield Way(
        f"gzip member per line, level {LEVEL}",
        *_cpu(lambda: sum(len(member(line)) for line in lines), repeat),
    )
    whole = b"".join(lines)
    for level in (1, 6):

        def at_once(level: int = level) -> int:
            return len(gzip.compress(whole, level))

        yield Way(f"whole file at once, gzip level {level}", *_cpu(at_once, repeat))
    for level in (1, 3, 9):
        chosen = " (the plugin's)" if level == ZSTD_LEVEL else ""
        yield Way(
            f"zstd stream, block flush per line, level {level}{chosen}",
            *_cpu(streamed(ZstdLines, level), repeat),
        )


def _zstandard_version() -> str:
    import zstandard

    return str(zstandard.__version__)


@dataclass(frozen=True)
class WriteRead:
    """CPU seconds a line, best of the rounds, by _label(codec)."""

    write: dict[str, float]  # the plugin's writer: compress, write, flush
    read: dict[str, float]  # Decoded, what every reader reads through


def _writing(lines: Sequence[bytes], workdir: Path, repeat: int) -> WriteRead:
    """The plugin's writer writing ``lines`` and the reader reading them back, ``repeat``
    rounds, the three formats alternated in every round."""
    write = dict.fromkeys(map(_label, CODECS), float("inf"))
    read = dict(write)
    folder = Path(tempfile.mkdtemp(dir=workdir))  # a file of its own for every suite and round
    for round_number in range(repeat):
        for codec in CODECS:
            path = folder / f"writing-{round_number}" / "runs" / run_file_name(0, f"{round_number:016x}", codec)
            began = time.process_time()
            run_file = RunFile(path, codec)
            for line in lines:
                run_file.write(line)
            run_file.finish()
            run_file.close()
            written = time.process_time()
            back = read_decoded(path)
            done = time.process_time()
            write[_label(codec)] = min(write[_label(codec)], (written - began) / len(lines))
            read[_label(codec)] = min(read[_label(codec)], (done - written) / len(lines))
            if back != b"".join(lines):
                raise BenchError(f"{path} does not read back as the lines written")
    return WriteRead(write, read)


def _table(recorded: Recorded, workdir: Path, repeat: int) -> list[str]:
    plain, spans = recorded.files["plain"]
    data = read_decoded(plain)
    lines = data.splitlines(keepends=True)
    for path, _spans in recorded.files.values():
        if len(read_decoded(path).splitlines()) != len(lines):
            raise BenchError(f"{path} and {plain} hold different numbers of lines")
    rows = [
        f"### {recorded.name}: {recorded.tests:,} tests, {spans:,} spans, {len(lines):,} lines",
        "",
        "| run file | bytes | bytes a span | x smaller | CPU to write | CPU a line |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    flags = {"plain": "`--no-otel-compress`", "gzip": "`--otel-compression=gzip`", "zstd": "`--otel`, zstd extra"}
    for label, (path, written_spans) in recorded.files.items():
        size = path.stat().st_size
        rows.append(
            f"| **written by {flags[label]}** (`{path.name[path.name.index('.otlp') :]}`) | {size:,} "
            f"| **{size / written_spans:.1f}** | {len(data) / size:.1f} | - | - |"
        )
    for way in _ways(lines, repeat):
        rows.append(
            f"| {way.label} | {way.size:,} | {way.size / spans:.1f} | {len(data) / way.size:.1f} "
            f"| {way.cpu * 1e3:.0f} ms | {way.cpu / len(lines) * 1e6:.1f} µs |"
        )
    measured = _writing(lines, workdir, repeat)
    rows += ["", f"CPU a line (a test) in this process, best of {repeat} rounds, the formats alternated:", ""]
    for what, cpu in (
        ("the plugin's writer (`RunFile.write`: compress, write, flush)", measured.write),
        ("reading it back (`Decoded`, what every reader reads through)", measured.read),
    ):
        rows.append(
            f"- {what}: "
            + ", ".join(f"{label} {seconds * 1e6:.1f} µs" for label, seconds in cpu.items())
            + f"; gzip {(cpu['gzip'] - cpu['plain']) * 1e6:+.1f} µs over plain, "
            f"zstd {(cpu['zstd'] - cpu['plain']) * 1e6:+.1f} µs."
        )
    rows.append("")
    for label in ("zstd", "gzip"):
        path, written_spans = recorded.files[label]
        per_span = path.stat().st_size / written_spans
        verdict = "met" if per_span <= TARGET_BYTES_PER_SPAN else "NOT met"
        rows.append(f"Target <= {TARGET_BYTES_PER_SPAN} bytes a span with {label}: {per_span:.1f}, {verdict}.")
    return [*rows, ""]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--modules", type=positive, default=20, help="modules of the trivial suite")
    parser.add_argument("--tests-per-module", type=positive, default=100, help="tests per module")
    parser.add_argument("--repeat", type=positive, default=5, help="compressions of each kind; the best CPU counts")
    parser.add_argument("--skip-demo", action="store_true", help="no PostgreSQL: the trivial suite only")
    parser.add_argument("--no-docs", action="store_true", help=f"only print, do not update {DOCS.name}")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    facts = machine_facts()
    if not available(ZSTD):
        print("store_size: needs the zstandard package: pip install -e '.[zstd]'", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="otel-pytest-store-size-") as tmp:
            workdir = Path(tmp)
            suites = [_trivial(workdir, args.modules, args.tests_per_module)]
            if not args.skip_demo:
                suites.append(_slow_demo(workdir))
            body = [line for recorded in suites for line in _table(recorded, workdir, args.repeat)]
    except BenchError as error:
        print(f"store_size: {error}", file=sys.stderr)
        return 2
    section = "\n".join(
        [
            *section_head("Store size per span (bench/store_size.py)", command_line("store_size", raw), facts),
            "CPU is this process compressing the plain file's lines as a writer would (best of "
            f"{args.repeat}; zstd is zstandard {_zstandard_version()}); the plugin's whole CPU with and "
            "without compression is in bench/overhead.py "
            "(`--otel` vs `--otel --no-otel-compress`).",
            "",
            *body,
        ]
    )
    publish("store_size", section, None if args.no_docs else DOCS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
