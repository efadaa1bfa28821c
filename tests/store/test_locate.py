"""The store's default place: the rootdir and configuration file found without pytest,
checked against pytest's own answer on the same folder trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_pytest.store.locate import ConfigFileError, Rootdir, default_store, find_rootdir, service_name

# Folder trees: relative path -> file content; "start" is where both are started.
TREES: dict[str, dict[str, str]] = {
    "pytest.ini above": {"pytest.ini": "[pytest]\n", "tests/sub/.keep": ""},
    "pytest.ini without a section": {"pytest.ini": "# nothing\n", "tests/.keep": ""},
    "hidden .pytest.ini": {".pytest.ini": "[pytest]\notel_store = hidden\n", "tests/.keep": ""},
    "pyproject ini_options with otel_store": {
        "pyproject.toml": "[project]\nname = 'x'\n\n[tool.pytest.ini_options]\notel_store = '.cache/otel'\n",
        "tests/sub/.keep": "",
    },
    "pyproject native tool.pytest": {"pyproject.toml": "[tool.pytest]\notel_store = 'native'\n", "tests/.keep": ""},
    "pytest.toml": {"pytest.toml": "[pytest]\notel_store = 'from-toml'\n", "tests/.keep": ""},
    "tox.ini with a pytest section in a lower folder": {
        "pyproject.toml": "[project]\nname = 'x'\n",
        "tests/tox.ini": "[tox]\n\n[pytest]\notel_store = lower\n",
        "tests/sub/.keep": "",
    },
    "tox.ini without a pytest section": {"tox.ini": "[tox]\nenvlist = py\n", "tests/.keep": ""},
    "setup.cfg with tool:pytest": {"setup.cfg": "[metadata]\nname = x\n\n[tool:pytest]\notel_store = cfg\n"},
    "setup.cfg without tool:pytest, setup.py": {"setup.cfg": "[metadata]\nname = x\n", "setup.py": "", "a/.keep": ""},
    "pyproject without pytest below a configured setup.cfg": {
        "setup.cfg": "[tool:pytest]\n",
        "pkg/pyproject.toml": "[project]\nname = 'x'\n",
        "pkg/tests/.keep": "",
    },
    "pyproject without pytest alone": {"pkg/pyproject.toml": "[project]\nname = 'x'\n", "pkg/tests/.keep": ""},
    "pytest.ini wins over pyproject in one folder": {
        "pytest.ini": "[pytest]\notel_store = ini\n",
        "pyproject.toml": "[tool.pytest.ini_options]\notel_store = 'pyproject'\n",
    },
    "nothing at all": {"a/b/.keep": ""},
    "blank otel_store": {"pytest.ini": "[pytest]\notel_store =\n", "tests/.keep": ""},
}
STARTS = {
    "pytest.ini above": "tests/sub",
    "pyproject ini_options with otel_store": "tests/sub",
    "tox.ini with a pytest section in a lower folder": "tests/sub",
    "setup.cfg without tool:pytest, setup.py": "a",
    "pyproject without pytest below a configured setup.cfg": "pkg/tests",
    "pyproject without pytest alone": "pkg/tests",
    "nothing at all": "a/b",
}


def make_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize("tree", TREES)
def test_the_rootdir_config_file_and_store_are_pytest_s(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tree: str
) -> None:
    make_tree(pytester.path, TREES[tree])
    start = pytester.path / STARTS.get(tree, "tests" if (pytester.path / "tests").is_dir() else ".")
    monkeypatch.chdir(start)
    config = pytester.parseconfig()  # pytest's own discovery, with the plugin's otel_store key
    found = find_rootdir(start)
    pytest_store = config.rootpath / (str(config.getini("otel_store")).strip() or ".otel-pytest")
    assert (found.path, found.config_file, found.store) == (config.rootpath, config.inipath, pytest_store)


def test_the_default_store_is_shown_relative_to_the_start_folder(tmp_path: Path) -> None:
    make_tree(tmp_path, {"pyproject.toml": "[tool.pytest.ini_options]\notel_store = 'traces'\n", "tests/.keep": ""})
    assert default_store(tmp_path / "tests") == Path("../traces")
    assert default_store(tmp_path) == Path("traces")


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("pytest.ini", "[pytest\n", "cannot read the pytest configuration file"),
        ("pyproject.toml", "[tool.pytest.ini_options\n", "cannot read the pytest configuration file"),
        ("pytest.toml", "[pytest]\notel_store = 3\n", "otel_store is 3, expected a folder name"),
    ],
)
def test_a_configuration_file_that_cannot_be_read_is_an_error_naming_it(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigFileError, match=problem) as raised:
        find_rootdir(tmp_path).store  # noqa: B018 - the store is read lazily
    assert str(tmp_path / name) in str(raised.value)


def test_a_folder_without_configuration_is_its_own_rootdir(tmp_path: Path) -> None:
    assert find_rootdir(tmp_path) == Rootdir(tmp_path, None, {})


# --- service name ---------------------------------------------------------------------


def test_service_name_prefers_otel_service_name(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\n')
    assert service_name({"OTEL_SERVICE_NAME": "shop-tests"}, tmp_path) == "shop-tests"


def test_service_name_then_uses_the_project_name_in_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\n')
    assert service_name({"OTEL_SERVICE_NAME": ""}, tmp_path) == "shop"


@pytest.mark.parametrize(
    "pyproject",
    [
        "this is [not toml",
        "[tool.ruff]\nline-length = 100\n",
        'project = "not a table"\n',
        "[project]\nname = 3\n",
        '[project]\nname = ""\n',
    ],
)
def test_service_name_falls_back_to_the_rootdir_name_when_pyproject_has_no_usable_name(
    tmp_path: Path, pyproject: str
) -> None:
    root = tmp_path / "shop-root"
    root.mkdir()
    (root / "pyproject.toml").write_text(pyproject)
    assert service_name({}, root) == "shop-root"


def test_service_name_without_pyproject_is_the_rootdir_name(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    assert service_name({}, root) == "plain"
    assert service_name({}, Path("/")) == "pytest"
