"""Every ```python block of the README and docs/ runs (blocks of one page share a namespace)."""

import os
import pathlib
import re

import matplotlib
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_code_blocks_run(page, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    blocks = BLOCK.findall(page.read_text())
    if not blocks:
        pytest.skip(f"{page.name} has no python code")
    monkeypatch.chdir(tmp_path)  # pages may write files
    namespace: dict = {"__name__": "__docs__"}
    for number, code in enumerate(blocks):
        try:
            exec(compile(code, f"{page.name}[block {number}]", "exec"), namespace)
        except Exception as exc:  # re-raise with the page and block named
            raise AssertionError(f"{page.name} block {number} failed: {exc!r}") from exc
    assert os.getcwd() == str(tmp_path)


# The docs site's API reference lists names explicitly (docs/api/index.rst): a public name
# missing from it would have no page. Every public module of mmlearn is checked (found on
# disk, so a new one is too), except the command line and the internal utilities.
API_MODULES = sorted(
    f"mmlearn.{path.stem}" for path in (ROOT / "mmlearn").iterdir()
    if not path.name.startswith("_") and path.stem not in {"cli", "utils"}
    and (path.suffix == ".py" or (path / "__init__.py").is_file()))


def _api_reference_names() -> list[str]:
    """``module.name`` for each entry of an autosummary list in docs/api/index.rst."""
    names, module, in_list = [], None, False
    for line in (ROOT / "docs" / "api" / "index.rst").read_text().splitlines():
        if line.startswith(".. currentmodule::"):
            module = line.split("::")[1].strip()
        elif line.startswith(".. "):
            in_list = line.startswith(".. autosummary::")
        elif in_list and re.fullmatch(r"   \w+", line):
            names.append(f"{module}.{line.strip()}")
        elif line and not line.startswith(" "):
            in_list = False
    return names


@pytest.mark.parametrize("module", API_MODULES)
def test_api_reference_lists_every_public_name(module):
    import importlib

    public = getattr(importlib.import_module(module), "__all__", None)
    assert public is not None, f"{module} has no __all__: its public names are unknown"
    listed = _api_reference_names()
    missing = [name for name in public if f"{module}.{name}" not in listed]
    assert not missing, f"docs/api/index.rst does not list {module}: {missing}"


def test_api_reference_lists_each_name_once():
    names = _api_reference_names()
    twice = sorted({name for name in names if names.count(name) > 1})
    assert not twice, f"docs/api/index.rst lists these more than once: {twice}"
