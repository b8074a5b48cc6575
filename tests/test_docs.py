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
