"""Who and where a run is: run id, environment fingerprint, VCS and CI.

Everything here is computed once per process from plain inputs (environment mapping,
paths), so it can be tested without pytest and without touching the real environment.
Nothing here ever copies the command line or the environment wholesale: secrets live there.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from otel_pytest.semconv import attributes as attr


def new_run_id() -> str:
    """A random 16-hex-digit run id, shared by every span of one run (and its xdist workers)."""
    return secrets.token_hex(8)


# ``platform.machine()`` names to the semantic conventions' ``host.arch`` values.
_HOST_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "x86",
    "i686": "x86",
    "x86": "x86",
    "armv7l": "arm32",
    "ppc64le": "ppc64",
    "ppc64": "ppc64",
    "s390x": "s390x",
}


@dataclass(frozen=True)
class Environment:
    """What makes two runs comparable: the interpreter, the platform and the CPU count."""

    python: str
    implementation: str
    platform: str
    cpu_count: int

    @property
    def fingerprint(self) -> str:
        """A short digest the analyzer groups runs by."""
        text = f"{self.implementation}|{self.python}|{self.platform}|{self.cpu_count}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @classmethod
    def current(cls) -> Environment:
        return cls(
            python=platform.python_version(),
            implementation=sys.implementation.name,
            platform=f"{platform.system().lower()}-{platform.machine().lower()}",
            cpu_count=os.cpu_count() or 1,
        )

    def attributes(self) -> dict[str, str | int]:
        """Resource attributes of this environment (not of the machine running the code)."""
        system, _, machine = self.platform.partition("-")
        return {
            attr.PROCESS_RUNTIME_NAME: self.implementation,
            attr.PROCESS_RUNTIME_VERSION: self.python,
            attr.OS_TYPE: system,
            attr.HOST_ARCH: _HOST_ARCH.get(machine, machine),
            attr.HOST_CPU_COUNT: self.cpu_count,
            attr.ENV_FINGERPRINT: self.fingerprint,
        }


def strip_credentials(url: str) -> str:
    """The URL without what may carry a secret: scheme, host, port and path stay.

    ``user:password@`` goes (repository URLs in CI carry tokens there), and so do the
    query string and the fragment (``?api_key=``, Jenkins' ``?token=``). The userinfo is
    cut at the last ``@`` before the path, so a password holding ``?``, ``#`` or ``@`` goes
    whole; a URL without ``//`` (scp-style ``git@host:repo``, a mistyped endpoint) loses
    its userinfo only when it has a password (``user:password@``).
    """
    scheme, sep, rest = url.partition("//")
    if not sep:
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if at and (sep or ":" in userinfo):
        authority = host
    kept = f"{scheme}{sep}{authority}{slash}{path}"
    return re.split(r"[?#]", kept, maxsplit=1)[0]


@dataclass(frozen=True)
class _CIProvider:
    """Where one CI system keeps each fact, as environment variable names.

    A field may name several variables; the first one set wins.
    """

    name: str
    marker: str
    pipeline: tuple[str, ...]
    run_id: tuple[str, ...]
    run_url: tuple[str, ...]
    revision: tuple[str, ...]
    branch: tuple[str, ...]
    repository: tuple[str, ...]
    change: tuple[str, ...]


_CI_PROVIDERS = (
    _CIProvider(
        "github_actions",
        "GITHUB_ACTIONS",
        pipeline=("GITHUB_WORKFLOW",),
        run_id=("GITHUB_RUN_ID",),
        run_url=(),  # built from three variables below
        revision=("GITHUB_SHA",),
        branch=("GITHUB_HEAD_REF", "GITHUB_REF_NAME"),
        repository=(),
        change=(),
    ),
    _CIProvider(
        "gitlab_ci",
        "GITLAB_CI",
        pipeline=("CI_PIPELINE_NAME", "CI_PROJECT_PATH"),
        run_id=("CI_PIPELINE_ID",),
        run_url=("CI_PIPELINE_URL",),
        revision=("CI_COMMIT_SHA",),
        branch=("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_REF_NAME"),
        repository=("CI_PROJECT_URL",),
        change=("CI_MERGE_REQUEST_IID",),
    ),
    _CIProvider(
        "jenkins",
        "JENKINS_URL",
        pipeline=("JOB_NAME",),
        run_id=("BUILD_ID", "BUILD_NUMBER"),
        run_url=("BUILD_URL",),
        revision=("GIT_COMMIT",),
        branch=("CHANGE_BRANCH", "BRANCH_NAME", "GIT_BRANCH"),
        repository=("GIT_URL",),
        change=("CHANGE_ID",),
    ),
    _CIProvider(
        "circleci",
        "CIRCLECI",
        pipeline=("CIRCLE_JOB",),
        run_id=("CIRCLE_WORKFLOW_ID", "CIRCLE_BUILD_NUM"),
        run_url=("CIRCLE_BUILD_URL",),
        revision=("CIRCLE_SHA1",),
        branch=("CIRCLE_BRANCH",),
        repository=("CIRCLE_REPOSITORY_URL",),
        change=("CIRCLE_PR_NUMBER",),
    ),
    _CIProvider(
        "buildkite",
        "BUILDKITE",
        pipeline=("BUILDKITE_PIPELINE_SLUG",),
        run_id=("BUILDKITE_BUILD_ID",),
        run_url=("BUILDKITE_BUILD_URL",),
        revision=("BUILDKITE_COMMIT",),
        branch=("BUILDKITE_BRANCH",),
        repository=("BUILDKITE_REPO",),
        change=("BUILDKITE_PULL_REQUEST",),
    ),
)


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = env.get(name)
        if value and value != "false":
            return value
    return None


def _github_extras(env: Mapping[str, str]) -> dict[str, str]:
    extras: dict[str, str] = {}
    server, repo = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY")
    run = env.get("GITHUB_RUN_ID")
    if server and repo:
        extras[attr.VCS_REPOSITORY_URL_FULL] = f"{server}/{repo}"
        if run:
            extras[attr.CICD_PIPELINE_RUN_URL_FULL] = f"{server}/{repo}/actions/runs/{run}"
    match = re.fullmatch(r"refs/pull/(\d+)/merge", env.get("GITHUB_REF", ""))
    if match:
        extras[attr.VCS_CHANGE_ID] = match.group(1)
    return extras


def ci_attributes(env: Mapping[str, str]) -> dict[str, str]:
    """``cicd.*`` and ``vcs.*`` attributes of the CI system this process runs under, if any."""
    for provider in _CI_PROVIDERS:
        if not env.get(provider.marker):
            continue
        fields = {
            attr.CICD_PIPELINE_NAME: provider.pipeline,
            attr.CICD_PIPELINE_RUN_ID: provider.run_id,
            attr.CICD_PIPELINE_RUN_URL_FULL: provider.run_url,
            attr.VCS_REF_HEAD_REVISION: provider.revision,
            attr.VCS_REF_HEAD_NAME: provider.branch,
            attr.VCS_REPOSITORY_URL_FULL: provider.repository,
            attr.VCS_CHANGE_ID: provider.change,
        }
        found = {key: value for key, names in fields.items() if (value := _first(env, names))}
        if provider.name == "github_actions":
            found.update(_github_extras(env))
        found = {key: strip_credentials(value) if key.endswith("url.full") else value for key, value in found.items()}
        found[attr.CICD_SYSTEM] = provider.name
        return found
    return {}


def _git_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = candidate.read_text(encoding="utf-8").strip()
            if text.startswith("gitdir:"):
                return (folder / text.split(":", 1)[1].strip()).resolve()
    return None


def _resolve_ref(git_dir: Path, ref: str) -> str | None:
    """Read a ref the way git does: loose file first, then packed-refs (also in the common dir)."""
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():
        common = (git_dir / commondir.read_text(encoding="utf-8").strip()).resolve()
    for base in (git_dir, common):
        loose = base / ref
        if loose.is_file():
            return loose.read_text(encoding="utf-8").strip()
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            sha, _, name = line.partition(" ")
            if name == ref:
                return sha
    return None


def git_attributes(rootdir: Path) -> dict[str, str]:
    """Revision and branch read from ``.git`` files directly.

    Reading files costs microseconds; spawning ``git`` would add milliseconds to every
    pytest start-up.
    """
    try:
        git_dir = _git_dir(rootdir)
        if git_dir is None:
            return {}
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
        if head.startswith("ref:"):
            ref = head.split(":", 1)[1].strip()
            attrs = {attr.VCS_REF_HEAD_NAME: ref.removeprefix("refs/heads/")}
            revision = _resolve_ref(git_dir, ref)
            if revision:
                attrs[attr.VCS_REF_HEAD_REVISION] = revision
            return attrs
        return {attr.VCS_REF_HEAD_REVISION: head}
    except (OSError, ValueError):  # unreadable, or not UTF-8
        return {}
