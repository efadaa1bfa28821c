"""Run ids, the environment fingerprint, CI and git detection."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from otel_pytest.identity import (
    Environment,
    ci_attributes,
    git_attributes,
    new_run_id,
    strip_credentials,
)

# --- run ids -------------------------------------------------


def test_run_ids_are_16_lowercase_hex_digits_and_differ_between_runs() -> None:
    ids = [new_run_id() for _ in range(50)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", run_id) for run_id in ids), ids
    assert len(set(ids)) == 50


# --- environment ----------------------------------------------------------------------

LINUX = Environment(python="3.11.7", implementation="cpython", platform="linux-x86_64", cpu_count=8)


def test_the_fingerprint_is_a_fixed_digest_of_the_environment() -> None:
    # sha256("cpython|3.11.7|linux-x86_64|8")[:12]: stored runs are grouped by this value,
    # so changing how it is computed splits every existing history.
    assert LINUX.fingerprint == "1c73d99587fa"
    assert Environment("3.11.7", "cpython", "linux-x86_64", 8).fingerprint == LINUX.fingerprint


@pytest.mark.parametrize(
    "other",
    [
        Environment("3.11.8", "cpython", "linux-x86_64", 8),
        Environment("3.11.7", "pypy", "linux-x86_64", 8),
        Environment("3.11.7", "cpython", "linux-aarch64", 8),
        Environment("3.11.7", "cpython", "linux-x86_64", 4),
    ],
)
def test_the_fingerprint_changes_with_each_input(other: Environment) -> None:
    assert other.fingerprint != LINUX.fingerprint
    assert re.fullmatch(r"[0-9a-f]{12}", other.fingerprint)


def test_environment_attributes_describe_the_environment_itself() -> None:
    assert LINUX.attributes() == {
        "process.runtime.name": "cpython",
        "process.runtime.version": "3.11.7",
        "os.type": "linux",
        "host.arch": "amd64",
        "host.cpu.count": 8,
        "pytest.env.fingerprint": "1c73d99587fa",
    }
    mac = Environment("3.12.1", "cpython", "darwin-arm64", 10).attributes()
    assert (mac["os.type"], mac["host.arch"]) == ("darwin", "arm64")


@pytest.mark.parametrize(
    ("machine", "arch"),
    [("aarch64", "arm64"), ("i686", "x86"), ("ppc64le", "ppc64"), ("riscv64", "riscv64")],
)
def test_host_arch_uses_the_semantic_convention_names_where_there_is_one(machine: str, arch: str) -> None:
    environment = Environment("3.11.7", "cpython", f"linux-{machine}", 2)
    assert environment.attributes()["host.arch"] == arch


def test_the_current_environment_is_read_from_the_interpreter_and_platform() -> None:
    current = Environment.current()
    assert current == Environment(
        python=platform.python_version(),
        implementation=sys.implementation.name,
        platform=f"{platform.system().lower()}-{platform.machine().lower()}",
        cpu_count=os.cpu_count() or 1,
    )


# --- credentials ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://user:token@github.com/org/repo.git", "https://github.com/org/repo.git"),
        (
            "https://x-access-token:ghs_abc@gitlab.example:8443/o/r?x=1#f",
            "https://gitlab.example:8443/o/r",
        ),
        ("https://u:p@ss@host/x", "https://host/x"),  # an '@' inside the password
        ("https://u:p?ss#w@host/x", "https://host/x"),  # '?' and '#' inside the password
        ("https://token@host/x", "https://host/x"),
        ("http://collector:4318?api_key=k3y", "http://collector:4318"),
        ("http://collector:4318/v1/traces?api_key=k3y&x=1", "http://collector:4318/v1/traces"),
        ("https://ci.example.com/job/shop/31/?token=t0k#console", "https://ci.example.com/job/shop/31/"),
        ("http://[::1]:4317/", "http://[::1]:4317/"),
        ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),  # scp form: user only
        ("ci:pw@collector:4318?api_key=k3y", "collector:4318"),  # no scheme, as mistyped
        ("", ""),
    ],
)
def test_strip_credentials_keeps_scheme_host_port_and_path_only(url: str, clean: str) -> None:
    assert strip_credentials(url) == clean


# --- CI detection ---------------------------------------------------------------------


def test_no_ci_system_means_no_attributes() -> None:
    assert ci_attributes({}) == {}
    assert ci_attributes({"GITHUB_SHA": "abc", "CI_PIPELINE_ID": "1", "HOME": "/root"}) == {}


GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_WORKFLOW": "tests",
    "GITHUB_RUN_ID": "987654",
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/shop",
}


def test_github_actions_push_gives_pipeline_run_url_and_branch() -> None:
    env = {
        **GITHUB,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_REF_NAME": "main",
        "GITHUB_HEAD_REF": "",
    }
    assert ci_attributes(env) == {
        "cicd.system": "github_actions",
        "cicd.pipeline.name": "tests",
        "cicd.pipeline.run.id": "987654",
        "cicd.pipeline.run.url.full": "https://github.com/acme/shop/actions/runs/987654",
        "vcs.ref.head.revision": "0123456789abcdef0123456789abcdef01234567",
        "vcs.ref.head.name": "main",
        "vcs.repository.url.full": "https://github.com/acme/shop",
    }


def test_github_actions_pull_request_gives_the_pr_number_and_the_head_branch() -> None:
    env = {
        **GITHUB,
        "GITHUB_REF": "refs/pull/42/merge",
        "GITHUB_REF_NAME": "42/merge",
        "GITHUB_HEAD_REF": "feature/faster-fixtures",
    }
    attributes = ci_attributes(env)
    assert attributes["vcs.change.id"] == "42"
    assert attributes["vcs.ref.head.name"] == "feature/faster-fixtures"


def test_github_actions_urls_lose_credentials_and_need_server_and_repository() -> None:
    env = {**GITHUB, "GITHUB_SERVER_URL": "https://bot:secret@ghe.example.com"}
    attributes = ci_attributes(env)
    assert attributes["vcs.repository.url.full"] == "https://ghe.example.com/acme/shop"
    assert attributes["cicd.pipeline.run.url.full"] == "https://ghe.example.com/acme/shop/actions/runs/987654"
    without_server = {k: v for k, v in GITHUB.items() if k != "GITHUB_SERVER_URL"}
    assert "vcs.repository.url.full" not in ci_attributes(without_server)
    assert "cicd.pipeline.run.url.full" not in ci_attributes(without_server)


def test_gitlab_ci_merge_request_pipeline() -> None:
    env = {
        "GITLAB_CI": "true",
        "CI_PIPELINE_NAME": "",
        "CI_PROJECT_PATH": "acme/shop",
        "CI_PIPELINE_ID": "555",
        "CI_PIPELINE_URL": "https://gitlab.com/acme/shop/-/pipelines/555",
        "CI_COMMIT_SHA": "feedface",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "mr-branch",
        "CI_COMMIT_REF_NAME": "refs/merge-requests/7/head",
        "CI_PROJECT_URL": "https://gitlab-ci-token:glcbt-xyz@gitlab.com/acme/shop",
        "CI_MERGE_REQUEST_IID": "7",
    }
    assert ci_attributes(env) == {
        "cicd.system": "gitlab_ci",
        "cicd.pipeline.name": "acme/shop",  # CI_PIPELINE_NAME empty: the next variable is used
        "cicd.pipeline.run.id": "555",
        "cicd.pipeline.run.url.full": "https://gitlab.com/acme/shop/-/pipelines/555",
        "vcs.ref.head.revision": "feedface",
        "vcs.ref.head.name": "mr-branch",
        "vcs.repository.url.full": "https://gitlab.com/acme/shop",
        "vcs.change.id": "7",
    }


def test_jenkins_multibranch_pull_request() -> None:
    env = {
        "JENKINS_URL": "https://ci.example.com/",
        "JOB_NAME": "shop/PR-12",
        "BUILD_ID": "31",
        "BUILD_NUMBER": "31",
        "BUILD_URL": "https://admin:pw@ci.example.com/job/shop/job/PR-12/31/?token=t0k",
        "GIT_COMMIT": "cafebabe",
        "CHANGE_BRANCH": "fix-n-plus-one",
        "BRANCH_NAME": "PR-12",
        "GIT_URL": "https://jenkins:tok@git.example.com/shop.git?ref=x#frag",
        "CHANGE_ID": "12",
    }
    assert ci_attributes(env) == {
        "cicd.system": "jenkins",
        "cicd.pipeline.name": "shop/PR-12",
        "cicd.pipeline.run.id": "31",
        "cicd.pipeline.run.url.full": "https://ci.example.com/job/shop/job/PR-12/31/",
        "vcs.ref.head.revision": "cafebabe",
        "vcs.ref.head.name": "fix-n-plus-one",
        "vcs.repository.url.full": "https://git.example.com/shop.git",
        "vcs.change.id": "12",
    }


def test_jenkins_without_build_id_falls_back_to_the_build_number() -> None:
    env = {"JENKINS_URL": "https://ci/", "BUILD_NUMBER": "8", "BRANCH_NAME": "main"}
    assert ci_attributes(env) == {
        "cicd.system": "jenkins",
        "cicd.pipeline.run.id": "8",
        "vcs.ref.head.name": "main",
    }


def test_circleci_build() -> None:
    env = {
        "CIRCLECI": "true",
        "CIRCLE_JOB": "test",
        "CIRCLE_WORKFLOW_ID": "wf-1",
        "CIRCLE_BUILD_NUM": "77",
        "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/shop/77",
        "CIRCLE_SHA1": "abc123",
        "CIRCLE_BRANCH": "main",
        "CIRCLE_REPOSITORY_URL": "https://user:pat@github.com/acme/shop",
    }
    assert ci_attributes(env) == {
        "cicd.system": "circleci",
        "cicd.pipeline.name": "test",
        "cicd.pipeline.run.id": "wf-1",
        "cicd.pipeline.run.url.full": "https://circleci.com/gh/acme/shop/77",
        "vcs.ref.head.revision": "abc123",
        "vcs.ref.head.name": "main",
        "vcs.repository.url.full": "https://github.com/acme/shop",
    }


def test_buildkite_build_outside_a_pull_request_has_no_change_id() -> None:
    env = {
        "BUILDKITE": "true",
        "BUILDKITE_PIPELINE_SLUG": "shop",
        "BUILDKITE_BUILD_ID": "0190-uuid",
        "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/shop/builds/3",
        "BUILDKITE_COMMIT": "0ff1ce",
        "BUILDKITE_BRANCH": "main",
        "BUILDKITE_REPO": "https://oauth2:tok@github.com/acme/shop.git",
        "BUILDKITE_PULL_REQUEST": "false",
    }
    assert ci_attributes(env) == {
        "cicd.system": "buildkite",
        "cicd.pipeline.name": "shop",
        "cicd.pipeline.run.id": "0190-uuid",
        "cicd.pipeline.run.url.full": "https://buildkite.com/acme/shop/builds/3",
        "vcs.ref.head.revision": "0ff1ce",
        "vcs.ref.head.name": "main",
        "vcs.repository.url.full": "https://github.com/acme/shop.git",
    }
    assert ci_attributes({**env, "BUILDKITE_PULL_REQUEST": "19"})["vcs.change.id"] == "19"


# --- git ------------------------------------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    """Run git with no user or system configuration, so the test is the same everywhere."""
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository on branch ``main`` with one commit."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "--quiet", "--initial-branch=main")
    git(path, "commit", "--quiet", "--allow-empty", "-m", "first")
    return path


@needs_git
def test_git_gives_the_branch_and_the_revision(repo: Path) -> None:
    assert git_attributes(repo) == {
        "vcs.ref.head.name": "main",
        "vcs.ref.head.revision": git(repo, "rev-parse", "HEAD"),
    }


@needs_git
def test_git_is_found_from_a_subfolder_and_slashes_in_branch_names_are_kept(repo: Path) -> None:
    git(repo, "checkout", "--quiet", "-b", "feature/fast")
    sub = repo / "tests" / "unit"
    sub.mkdir(parents=True)
    assert git_attributes(sub) == {
        "vcs.ref.head.name": "feature/fast",
        "vcs.ref.head.revision": git(repo, "rev-parse", "HEAD"),
    }


@needs_git
def test_a_detached_head_gives_the_revision_only(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "second")
    git(repo, "checkout", "--quiet", "--detach", first)
    assert git_attributes(repo) == {"vcs.ref.head.revision": first}


@needs_git
def test_packed_refs_are_read_when_the_loose_ref_is_gone(repo: Path) -> None:
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert git_attributes(repo) == {
        "vcs.ref.head.name": "main",
        "vcs.ref.head.revision": git(repo, "rev-parse", "HEAD"),
    }


@needs_git
def test_a_branch_without_commits_gives_the_branch_only(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet", "--initial-branch=trunk")
    assert git_attributes(tmp_path) == {"vcs.ref.head.name": "trunk"}


@needs_git
def test_a_worktree_reads_its_own_head_and_the_shared_refs(repo: Path, tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "--quiet", "-b", "side", str(worktree))
    git(worktree, "commit", "--quiet", "--allow-empty", "-m", "on side")
    assert (worktree / ".git").is_file()
    side = git(worktree, "rev-parse", "HEAD")
    assert side != git(repo, "rev-parse", "HEAD")
    assert git_attributes(worktree) == {"vcs.ref.head.name": "side", "vcs.ref.head.revision": side}
    git(repo, "pack-refs", "--all")
    assert git_attributes(worktree) == {"vcs.ref.head.name": "side", "vcs.ref.head.revision": side}


def test_no_git_folder_means_no_attributes(tmp_path: Path) -> None:
    # tmp_path is outside any repository (pytest's temporary root is under the system temp dir).
    assert git_attributes(tmp_path) == {}


def test_an_unreadable_head_means_no_attributes(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_bytes(b"ref: refs/heads/\xff\xfe\n")
    assert git_attributes(tmp_path) == {}
    (tmp_path / ".git" / "HEAD").unlink()
    assert git_attributes(tmp_path) == {}
