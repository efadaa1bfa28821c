"""The failure text policy: what of an exception each mode keeps, scrubbed and bounded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from otel_pytest.failures import MAX_MESSAGE, MAX_TRACEBACK, FailureText

TOKEN = "ghp_0123456789abcdefSECRET"
ENVIRON = {"GITHUB_TOKEN": TOKEN, "HOME": "/root", "SHORT": "abcdef", "KEY": "line-one-of-it\nline-two-of-it"}


def raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def test_message_mode_keeps_the_type_and_the_first_message_line() -> None:
    text = FailureText("message", ENVIRON)
    error = raised(AssertionError("assert 1 == 2\n +  where 1 = f()"))
    assert text.attributes(error) == {"exception.type": "AssertionError", "exception.message": "assert 1 == 2"}


def test_none_mode_keeps_the_type_alone_and_the_status_says_only_that() -> None:
    text = FailureText("none", ENVIRON)
    error = raised(ValueError(f"token {TOKEN}"))
    attributes = text.attributes(error)
    assert attributes == {"exception.type": "ValueError"}
    assert text.status(error, attributes) == "ValueError"


def test_an_empty_message_leaves_the_message_out() -> None:
    text = FailureText("message", ENVIRON)
    error = raised(KeyError())
    attributes = text.attributes(error)
    assert attributes == {"exception.type": "KeyError"}
    assert text.status(error, attributes) == "KeyError"


def test_every_environment_value_longer_than_six_characters_is_redacted() -> None:
    text = FailureText("message", ENVIRON)
    assert text.scrub(f"got {TOKEN} at /root with abcdef") == "got <redacted> at /root with abcdef"


def test_each_line_of_a_multi_line_environment_value_is_redacted_on_its_own() -> None:
    text = FailureText("message", ENVIRON)
    assert text.scrub("saw line-two-of-it here") == "saw <redacted> here"


def test_the_environment_is_read_when_a_failure_is_recorded_not_when_the_policy_is_made() -> None:
    environ = dict(ENVIRON)
    text = FailureText("message", environ)
    assert text.scrub("value later-added-secret") == "value later-added-secret"
    environ["LATER"] = "later-added-secret"
    assert text.scrub("value later-added-secret") == "value <redacted>"


@pytest.mark.parametrize(
    ("line", "scrubbed"),
    [
        ("assert environ({'PATH': '/usr/bin', 'X': 'y'}) == {}", "assert <environment removed> == {}"),
        ("assert {'HOME': '/root', 'SHORT': 'abc'} == {}", "assert <environment removed> == {}"),
        ("where x = environ({'PATH': '/usr/bin', ...", "where x = <environment removed>"),  # cut short
        ("assert {'HOME': '/root'} == {}", "assert {'HOME': '/root'} == {}"),  # one key is no dump
        ("assert {'a': 1, 'b': 2} == {}", "assert {'a': 1, 'b': 2} == {}"),
    ],
)
def test_a_mapping_that_looks_like_an_environment_dump_is_removed(line: str, scrubbed: str) -> None:
    assert FailureText("message", ENVIRON).scrub(line) == scrubbed


def test_a_long_message_is_cut_to_its_bound_after_scrubbing() -> None:
    text = FailureText("message", ENVIRON)
    message = text.attributes(raised(ValueError(TOKEN + "x" * 1000)))["exception.message"]
    assert message == "<redacted>" + "x" * (MAX_MESSAGE - len("<redacted>") - 1) + "…"


def test_sqlalchemy_parameters_and_quoted_driver_values_are_hidden() -> None:
    text = FailureText("message", {})
    error = raised(RuntimeError("failed [parameters: ('hunter2',)]"))
    assert text.attributes(error)["exception.message"] == "failed [parameters hidden]"
    database_error = type("DataError", (Exception,), {"__module__": "sqlalchemy.exc"})
    quoted = raised(database_error('invalid input syntax for type integer: "hunter2"'))
    assert text.attributes(quoted)["exception.message"] == 'invalid input syntax for type integer: "?"'


def test_a_message_given_by_the_caller_replaces_the_errors_own_text() -> None:
    text = FailureText("message", {})
    error = raised(RuntimeError("DETAIL: Key (v)=(hunter2)"))
    assert text.attributes(error, "duplicate key")["exception.message"] == "duplicate key"


def test_an_unprintable_exception_is_recorded_by_its_type() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    text = FailureText("message", {})
    assert text.attributes(raised(Broken()))["exception.message"] == f"<unprintable {Broken.__qualname__}>"


def _connect(host: str, password: str) -> None:
    raise ConnectionError(f"cannot reach {host}")


def _login(password: str) -> None:
    try:
        _connect("db.internal", password)
    except ConnectionError as error:
        raise PermissionError("login failed") from error


def test_traceback_mode_has_file_line_function_lines_and_never_locals_or_arguments() -> None:
    text = FailureText("traceback", {}, rootdir=Path(__file__).parent.parent)
    error = raised(PermissionError("placeholder"))
    try:
        _login("pw-Hunter2-local")
    except PermissionError as caught:
        error = caught
    stacktrace = str(text.attributes(error)["exception.stacktrace"])
    lines = {name: number for number, name in _line_numbers()}
    assert stacktrace == "\n".join(
        [
            "Traceback (most recent call last):",
            f'  File "tests/test_failures.py", line {lines["_connect_call"]}, in _login',
            f'  File "tests/test_failures.py", line {lines["_connect_raise"]}, in _connect',
            "ConnectionError: cannot reach db.internal",
            "",
            "The above exception was the direct cause of the following exception:",
            "",
            "Traceback (most recent call last):",
            f'  File "tests/test_failures.py", line {lines["_login_call"]}, '
            "in test_traceback_mode_has_file_line_function_lines_and_never_locals_or_arguments",
            f'  File "tests/test_failures.py", line {lines["_login_raise"]}, in _login',
            "PermissionError: login failed",
        ]
    )
    assert "pw-Hunter2-local" not in stacktrace


def _line_numbers() -> list[tuple[int, str]]:
    """Where the frames above are, found in this file's text rather than hard-coded."""
    source = Path(__file__).read_text().splitlines()
    marks = {
        '    raise ConnectionError(f"cannot reach {host}")': "_connect_raise",
        '        _connect("db.internal", password)': "_connect_call",
        '        raise PermissionError("login failed") from error': "_login_raise",
        '        _login("pw-Hunter2-local")': "_login_call",
    }
    return [(number, marks[line]) for number, line in enumerate(source, 1) if line in marks]


def _recurse(depth: int) -> None:
    if depth == 0:
        raise RecursionError("deep")
    _recurse(depth - 1)


def test_a_deep_traceback_keeps_its_outer_and_inner_frames_and_says_how_many_it_left_out() -> None:
    text = FailureText("traceback", {}, rootdir=Path(__file__).parent.parent)
    error = raised(RuntimeError())
    try:
        _recurse(100)
    except RecursionError as caught:
        error = caught
    lines = str(text.attributes(error)["exception.stacktrace"]).splitlines()
    frames = [line for line in lines if line.startswith('  File "')]
    assert len(frames) == 30
    assert "  ... 72 frames omitted ..." in lines
    assert lines[-1] == "RecursionError: deep"


def test_a_traceback_never_exceeds_its_bound_and_keeps_its_innermost_part() -> None:
    name = "a_function_named_at_length_" + "x" * 400
    namespace: dict[str, object] = {}
    exec(f"def {name}(depth, fail):\n    return fail() if depth == 0 else {name}(depth - 1, fail)", namespace)
    deep = namespace[name]
    assert callable(deep)

    def fail() -> None:
        raise ValueError("innermost")

    text = FailureText("traceback", {})
    error = raised(RuntimeError())
    try:
        deep(40, fail)
    except ValueError as caught:
        error = caught
    stacktrace = str(text.attributes(error)["exception.stacktrace"])
    assert len(stacktrace) <= MAX_TRACEBACK
    assert stacktrace.startswith("...\n  File ")  # cut at a line start, the outer frames go first
    assert stacktrace.endswith(
        "in test_a_traceback_never_exceeds_its_bound_and_keeps_its_innermost_part.<locals>.fail\nValueError: innermost"
    )


def test_sdk_exception_events_keep_what_the_mode_keeps() -> None:
    sdk = {
        "exception.type": "ValueError",
        "exception.message": f"bad {TOKEN}\nsecond line",
        "exception.stacktrace": (
            "Traceback (most recent call last):\n"
            '  File "/app/x.py", line 3, in handler\n'
            "    check(token)\n"
            "ValueError: bad value\n"
        ),
        "exception.escaped": "False",
    }
    assert FailureText("none", ENVIRON).sdk_event(sdk) == {"exception.type": "ValueError", "exception.escaped": "False"}
    assert FailureText("message", ENVIRON).sdk_event(sdk) == {
        "exception.type": "ValueError",
        "exception.message": "bad <redacted>",
        "exception.escaped": "False",
    }
    assert FailureText("traceback", ENVIRON).sdk_event(sdk)["exception.stacktrace"] == (
        'Traceback (most recent call last):\n  File "/app/x.py", line 3, in handler\nValueError: bad <redacted>'
    )


def test_sdk_status_descriptions_keep_their_first_line_scrubbed_and_none_mode_drops_them() -> None:
    assert FailureText("message", ENVIRON).sdk_status(f"ValueError: {TOKEN}\nmore") == "ValueError: <redacted>"
    assert FailureText("none", ENVIRON).sdk_status("ValueError: x") == ""


def test_an_unknown_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown failure text mode 'all'"):
        FailureText("all")


def test_the_statement_parser_is_loaded_by_the_first_failure_not_by_the_import() -> None:
    code = (
        "import sys, otel_pytest.failures as f; before = 'otel_pytest.semconv.statements' in sys.modules; "
        "f.FailureText().message(ValueError, 'boom'); print(before, 'otel_pytest.semconv.statements' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]
