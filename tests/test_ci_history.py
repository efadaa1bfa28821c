"""The store-carried CI history, end to end: the steps of ``deploy/github-actions.yml`` run
job after job, each in a fresh folder standing in for a fresh runner, with actions/cache
played as GitHub documents it, and the analyzer of the last job sees every earlier job's run.

actions/cache, as simulated here: a cache belongs to the branch (scope) of the run that saved
it and is never overwritten (saving an existing key does nothing); a restore looks in the run's
own branch, then in the default branch, each time for the exact key, then the newest cache
whose key starts with the key, then with each restore key in turn.

The jobs: three pushes to main; a pull request whose code makes one test slower, run three times;
then main again. The suite's `test_checkout` sleeps (its workload, not a synchronisation) 20 ms
on main and 150 ms on the branch.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_pytest.store.index import RunIndex
from tests.test_github_actions import WORKFLOW

DEFAULT_BRANCH = "main"
FEATURE = "feature/slow-checkout"
# Twenty listings: with a few tests only, their noise cannot be pooled and 3 + 3 runs are
# sometimes too few for a sure finding (then it is provisional and does not gate).
SUITE = """
    import time

    import pytest

    def test_checkout():
        time.sleep({delay})

    @pytest.mark.parametrize("page", range(20))
    def test_listing(page):
        time.sleep(0.02)

    def test_quick():
        pass
"""
PYTEST_INI = "[pytest]\naddopts = -p no:asyncio -p no:anyio -p no:cacheprovider\n"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class ActionsCache:
    """actions/cache's store of caches (see the module docstring)."""

    caches: list[tuple[str, str, bytes]] = field(default_factory=list)  # (branch, key, content), oldest first

    def save(self, branch: str, key: str, content: bytes) -> bool:
        if any(saved == key for scope, saved, _ in self.caches if scope == branch):
            return False
        self.caches.append((branch, key, content))
        return True

    def restore(self, branch: str, key: str, restore_keys: list[str]) -> tuple[str, bytes] | None:
        for scope in dict.fromkeys([branch, DEFAULT_BRANCH]):
            visible = [(saved, content) for owner, saved, content in self.caches if owner == scope]
            exact = [item for item in visible if item[0] == key]
            if exact:
                return exact[-1]
            for prefix in (key, *restore_keys):
                matching = [item for item in visible if item[0].startswith(prefix)]
                if matching:
                    return matching[-1]
        return None


def evaluate(expression: str, context: Mapping[str, str]) -> str | bool:
    """The few expression forms the workflow uses; any other fails the test loudly."""
    expression = expression.strip()
    if expression == "!cancelled()":
        return True
    compared = re.fullmatch(r"(.+?) != ''", expression)
    if compared:
        return evaluate(compared[1], context) != ""
    for alternative in expression.split("||"):
        name = alternative.strip()
        assert name in context, f"the simulation does not know {name!r}: teach it, or keep the workflow simple"
        if context[name]:
            return context[name]
    return ""


def interpolate(text: str, context: Mapping[str, str]) -> str:
    return EXPRESSION.sub(lambda match: str(evaluate(match[1], context)), text)


@dataclass
class Job:
    """What one job did."""

    folder: Path
    restored: str  # the key of the cache restored, "" when none
    saved: bool
    outcomes: dict[str, int]  # step name -> exit status of its commands
    summary: str  # what the job appended to $GITHUB_STEP_SUMMARY
    runs: list[str]  # run ids in the job's store at its end, oldest first


def run_job(cache: ActionsCache, folder: Path, *, run_id: int, branch: str, pull_request: bool, delay: float) -> Job:
    """Run the workflow's ``test`` job on a fresh runner: ``folder``, empty."""
    job: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["test"]
    workspace = folder / "workspace"
    workspace.mkdir(parents=True)
    summary = folder / "step_summary.md"  # the runner keeps it outside the workspace
    github = {
        "github.head_ref": branch if pull_request else "",
        "github.ref_name": "7/merge" if pull_request else branch,
        "github.run_id": str(run_id),
        "github.run_attempt": "1",
        "github.event.repository.default_branch": DEFAULT_BRANCH,
    }
    context = dict(github)
    for name, value in job["env"].items():
        context[f"env.{name}"] = interpolate(str(value), context)
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OTEL_", "TRACEPARENT", "TRACESTATE", "PYTEST_", "GITHUB_", "CI"))
    }
    environment.update({name.removeprefix("env."): value for name, value in context.items() if name.startswith("env.")})
    environment.update(
        {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_RUN_ID": str(run_id),
            "GITHUB_REF_NAME": github["github.ref_name"],
            "GITHUB_HEAD_REF": github["github.head_ref"],
        }
    )
    scope = branch
    restored, saved, failed = "", False, False
    outcomes: dict[str, int] = {}
    for step in job["steps"]:
        condition = step.get("if")
        if condition is None:
            if failed:
                continue
        elif not evaluate(EXPRESSION.sub(lambda match: match[1], condition), context):
            continue
        action = step.get("uses", "").split("@")[0]
        given = {name: interpolate(str(value), context) for name, value in step.get("with", {}).items()}
        if action == "actions/checkout":  # the branch's code
            (workspace / "test_shop.py").write_text(textwrap.dedent(SUITE.format(delay=delay)))
            (workspace / "pytest.ini").write_text(PYTEST_INI)
        elif action == "actions/setup-python":
            pass  # this Python, which has otel-pytest installed
        elif action == "actions/cache/restore":
            found = cache.restore(scope, given["key"], given["restore-keys"].splitlines())
            if found is not None:
                restored = found[0]
                (workspace / given["path"]).write_bytes(found[1])
            context[f"steps.{step['id']}.outputs.cache-primary-key"] = given["key"]
            context[f"steps.{step['id']}.outputs.cache-matched-key"] = restored
        elif action == "actions/cache/save":
            path = workspace / given["path"]
            saved = path.is_file() and cache.save(scope, given["key"], path.read_bytes())
        elif action == "actions/upload-artifact":
            assert (workspace / given["path"]).is_file(), f"{given['path']}: nothing to upload"
        elif step["name"] == "Install":
            pass  # installed already: this is the checkout under test
        else:
            assert action == "", f"the simulation does not know {action}"
            done = subprocess.run(
                ["bash", "-e", "-c", step["run"]],
                cwd=workspace,
                env=environment,
                capture_output=True,
                text=True,
                check=False,
            )
            outcomes[step["name"]] = done.returncode
            assert done.returncode in (0, 1), f"{step['name']}: {done.stdout}{done.stderr}"
            failed = failed or done.returncode != 0
    entries, problems = RunIndex(workspace / ".otel-pytest").entries()
    assert problems == []
    text = summary.read_text(encoding="utf-8") if summary.exists() else ""
    return Job(folder, restored, saved, outcomes, text, [entry.run_id for entry in entries])


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Job]:
    cache = ActionsCache()
    plan = [
        ("main 1", DEFAULT_BRANCH, False, 0.02),
        ("main 2", DEFAULT_BRANCH, False, 0.02),
        ("main 3", DEFAULT_BRANCH, False, 0.02),
        ("feature 1", FEATURE, True, 0.15),
        ("feature 2", FEATURE, True, 0.15),
        ("feature 3", FEATURE, True, 0.15),
        ("main 4", DEFAULT_BRANCH, False, 0.02),
    ]
    done: dict[str, Job] = {}
    for number, (name, branch, pull_request, delay) in enumerate(plan, 101):
        folder = tmp_path_factory.mktemp(name.replace(" ", "-"))
        done[name] = run_job(cache, folder, run_id=number, branch=branch, pull_request=pull_request, delay=delay)
    return done


def headline(job: Job) -> str:
    """The analyzed run and the history's length, from the job summary's Markdown."""
    found = re.search(r"^_run (\w+), (\d+) runs? analyzed_$", job.summary, re.MULTILINE)
    assert found is not None, job.summary
    return f"{found[1]}: {found[2]} runs"


def regressions(job: Job) -> list[str]:
    """The rows of the job summary's findings table about duration regressions: a row says
    what, then ``<br>`` and the kind in bold, where and since when."""
    return [line for line in job.summary.splitlines() if line.startswith("| ") and "<br>**regression** · " in line]


def test_each_job_on_main_carries_the_runs_of_every_job_before_it(jobs: dict[str, Job]) -> None:
    main = [jobs[f"main {number}"] for number in (1, 2, 3)]
    assert [len(job.runs) for job in main] == [1, 2, 3]
    assert main[1].runs[:1] == main[0].runs
    assert main[2].runs[:2] == main[1].runs
    assert [headline(job) for job in main] == [f"{job.runs[-1]}: {len(job.runs)} runs" for job in main]


def test_every_job_restores_the_newest_cache_of_its_branch_and_saves_a_new_one(jobs: dict[str, Job]) -> None:
    prefix = "otel-pytest-ubuntu-24.04-py3.12-"
    assert {name: job.restored for name, job in jobs.items()} == {
        "main 1": "",
        "main 2": f"{prefix}main~101-1",
        "main 3": f"{prefix}main~102-1",
        "feature 1": f"{prefix}main~103-1",  # the key and the branch's prefix miss: the default branch's
        "feature 2": f"{prefix}{FEATURE}~104-1",
        "feature 3": f"{prefix}{FEATURE}~105-1",
        "main 4": f"{prefix}main~103-1",  # never the branch's
    }
    assert all(job.saved for job in jobs.values())


def test_a_branch_starts_from_the_default_branch_s_history(jobs: dict[str, Job]) -> None:
    feature = jobs["feature 1"]
    assert feature.runs[:3] == jobs["main 3"].runs
    assert headline(feature) == f"{feature.runs[-1]}: 4 runs"
    assert regressions(feature) == []  # one slow run is never a finding (persistence: 3 runs)
    assert regressions(jobs["feature 2"]) == []  # nor two: a busy runner gives two in a row


def test_the_regression_of_the_branch_is_found_in_its_history(jobs: dict[str, Job]) -> None:
    feature = jobs["feature 3"]
    assert feature.runs[:5] == jobs["feature 2"].runs
    assert headline(feature) == f"{feature.runs[-1]}: 6 runs"
    (row,) = regressions(feature)
    # 6 runs are enough for the statistical test: a sure finding, not a provisional one.
    assert "<br>**regression** · `test_shop.py::test_checkout` · " in row
    assert "provisional" not in row
    # The step is placed at the branch's first run, the one the first feature job added.
    assert f"Look at what changed in run {jobs['feature 1'].runs[-1]} " in feature.summary
    # A sure finding fails the gate (the Analyze step); the history is still packed.
    assert feature.outcomes == {
        "Unpack the history into .otel-pytest/": 0,
        "Test": 0,
        "Analyze": 1,
        "Pack the history": 0,
    }


def test_the_default_branch_goes_on_from_its_own_history(jobs: dict[str, Job]) -> None:
    main = jobs["main 4"]
    assert main.runs[:3] == jobs["main 3"].runs
    assert not set(main.runs) & set(jobs["feature 3"].runs[3:])
    assert headline(main) == f"{main.runs[-1]}: 4 runs"
    assert regressions(main) == []


def test_the_first_job_has_nothing_to_unpack_and_still_packs_its_run(jobs: dict[str, Job]) -> None:
    first = jobs["main 1"]
    assert first.outcomes == {"Test": 0, "Analyze": 0, "Pack the history": 0}
    assert (
        (first.folder / "workspace" / "otel-pytest-report.html")
        .read_text(encoding="utf-8")
        .startswith("<!DOCTYPE html>")
    )
