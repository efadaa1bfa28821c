"""The GitHub Actions example, ``deploy/github-actions.yml``, is a workflow GitHub can run: it
parses as YAML, its jobs have the steps the recipe needs, and every ``otel-pytest`` and
``pytest`` command in it (in the commented backend job too) exists with the flags it uses.
How its history steps behave across runs is tested in tests/test_ci_history.py."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_pytest.cli import build_parser

WORKFLOW = Path(__file__).parent.parent / "deploy" / "github-actions.yml"
BACKEND_JOB = "  # test-with-jaeger:"
# Values a runner would put where the commands read a variable or a secret.
SAMPLES = {
    "HISTORY": "otel-pytest-history.tar.gz",
    "OTEL_SERVICE_NAME": "my-project",
    "JAEGER_QUERY_URL": "http://127.0.0.1:16686",
}


# `analyze --jaeger/--service/--since` are being built on the branch jaeger-source: until they
# land, the backend job's analyze line may use exactly these flags and no other unknown one.
def load() -> dict[Any, Any]:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(workflow, dict)
    return workflow


def backend_job() -> dict[str, Any]:
    """The commented-out job, as the YAML it becomes once its ``# `` are removed."""
    text = WORKFLOW.read_text(encoding="utf-8")
    block = text[text.index(BACKEND_JOB) :].splitlines()
    uncommented = "\n".join(re.sub(r"^  # ?", "  ", line) for line in block)
    jobs = yaml.safe_load("jobs:\n" + uncommented)["jobs"]
    assert list(jobs) == ["test-with-jaeger"]
    job: dict[str, Any] = jobs["test-with-jaeger"]
    return job


def uses(job: Mapping[str, Any]) -> list[str]:
    return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]


def commands(job: Mapping[str, Any]) -> Iterator[list[str]]:
    """Every command line of the job's ``run`` steps, its variables replaced by samples."""
    for step in job["steps"]:
        for line in step.get("run", "").splitlines():
            expanded = re.sub(r"\$\{?(\w+)\}?", lambda match: SAMPLES[match[1]], line)
            if expanded.strip():
                yield shlex.split(expanded)


def flags(argv: list[str]) -> set[str]:
    return {word.split("=")[0] for word in argv if word.startswith("--")}


@cache
def help_text(*command: str) -> str:
    """``command --help`` as the installed command prints it."""
    executable = [str(Path(sys.executable).parent / "otel-pytest")] if command[0] == "otel-pytest" else []
    argv = [*executable, *command[1:]] if executable else [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    done = subprocess.run([*argv, "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def subcommand(argv: list[str]) -> tuple[str, ...]:
    """``otel-pytest store unpack FILE ...`` -> ``("otel-pytest", "store", "unpack")``."""
    depth = 3 if argv[1] == "store" else 2
    return tuple(argv[:depth])


def test_the_workflow_parses_and_runs_on_pushes_to_main_and_pull_requests() -> None:
    workflow = load()
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true; GitHub reads it as "on"
    assert triggers == {"push": {"branches": ["main"]}, "pull_request": None}
    assert workflow["permissions"] == {"contents": "read"}
    assert list(workflow["jobs"]) == ["test"]


def test_the_store_job_restores_tests_analyzes_uploads_packs_and_saves_in_that_order() -> None:
    job = load()["jobs"]["test"]
    names = [step.get("name", step.get("uses")) for step in job["steps"]]
    assert names == [
        "actions/checkout@v4",
        "actions/setup-python@v5",
        "Install",
        "Restore the test history",
        "Unpack the history into .otel-pytest/",
        "Test",
        "Analyze",
        "Upload the HTML report",
        "Pack the history",
        "Save the history",
    ]
    assert uses(job) == [
        "actions/checkout",
        "actions/setup-python",
        "actions/cache/restore",
        "actions/upload-artifact",
        "actions/cache/save",
    ]


def test_every_step_after_the_tests_runs_after_failing_tests_too() -> None:
    steps = load()["jobs"]["test"]["steps"]
    after = steps[[step.get("name") for step in steps].index("Test") + 1 :]
    assert {step["if"] for step in after} == {"${{ !cancelled() }}"}


def test_the_cache_key_is_new_for_every_run_and_restores_by_the_branch_then_the_default_branch() -> None:
    steps = {step.get("name"): step for step in load()["jobs"]["test"]["steps"]}
    restore = steps["Restore the test history"]["with"]
    branch = "${{ env.HISTORY_KEY }}-${{ github.head_ref || github.ref_name }}~"
    assert restore["key"] == branch + "${{ github.run_id }}-${{ github.run_attempt }}"
    assert restore["restore-keys"].splitlines() == [
        branch,
        "${{ env.HISTORY_KEY }}-${{ github.event.repository.default_branch }}~",
    ]
    assert steps["Save the history"]["with"] == {
        "path": restore["path"],
        "key": "${{ steps.history.outputs.cache-primary-key }}",
    }


def test_the_backend_job_exports_to_a_collector_from_secrets_and_analyzes_from_jaeger() -> None:
    job = backend_job()
    assert job["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "${{ secrets.OTEL_EXPORTER_OTLP_ENDPOINT }}"
    assert job["env"]["JAEGER_QUERY_URL"] == "${{ secrets.JAEGER_QUERY_URL }}"
    assert uses(job) == ["actions/checkout", "actions/setup-python", "actions/upload-artifact"]
    (analyze,) = [argv for argv in commands(job) if argv[:2] == ["otel-pytest", "analyze"]]
    assert {"--jaeger", "--service", "--since", "--fail-on", "--github-summary"} <= flags(analyze)


def all_commands() -> list[tuple[str, list[str]]]:
    found = [("test", argv) for argv in commands(load()["jobs"]["test"])]
    found += [("test-with-jaeger", argv) for argv in commands(backend_job())]
    return [(job, argv) for job, argv in found if argv[0] in ("otel-pytest", "pytest")]


@pytest.mark.parametrize(
    ("job", "argv"), all_commands(), ids=[f"{job}: {' '.join(argv[:3])}" for job, argv in all_commands()]
)
def test_every_command_exists_with_the_flags_it_uses(job: str, argv: list[str]) -> None:
    if argv[0] == "pytest":
        shown = set(re.findall(r"--[\w-]+", help_text("pytest")))
        assert flags(argv) <= shown
        return
    shown = set(re.findall(r"--[\w-]+", help_text(*subcommand(argv))))
    missing = flags(argv) - shown
    assert missing == set()
    build_parser().parse_args(argv[1:])  # the whole line parses: values, positionals and all


def test_commands_that_are_not_otel_pytest_or_pytest_are_only_the_install() -> None:
    others = [argv[:3] for argv in commands(load()["jobs"]["test"]) if argv[0] not in ("otel-pytest", "pytest")]
    assert others == [["python", "-m", "pip"]]
