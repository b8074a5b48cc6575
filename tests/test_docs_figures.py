"""Every measured figure quoted in the README and docs/ has the command that produces it
next to it, and every script the docs name exists.

The rule, for authors, is in docs/contributing.md ("Figures in the docs"). In short: a page
is cut into sections at its headings; a section that quotes a *figure* must also show a
*source*:

- a figure is, outside inline code, Python code blocks, link targets and HTML comments, a
  decimal number (``0.987``, ``1.5``), a percentage (``31%``), a duration (``45 s``,
  ``12 minutes``) or a "N times faster/slower/as/chance" ratio. Plain integers (``1,797
  pairs``, ``8×8 images``), version and licence numbers (``Python 3.11``, ``Apache License
  2.0``), dotted versions and scientific notation are not figures;
- a source is the path of a script that exists under ``benchmarks/`` or ``examples/``
  (``python benchmarks/x.py``; it may sit in a ``<!-- figure: python benchmarks/x.py -->``
  comment), the ``mmlearn bench`` command, ``python -m pytest`` (for the suite's own time),
  or a Python code block of the section (tests/test_docs.py runs it, so what it prints is
  reproduced on every test run).

A constant that is not measured (a default, a threshold) is written as inline code:
``modality_dropout=0.3``, ``p >= 0.05``.
"""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(?P<mark>```|~~~)(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=mark)[ \t]*$",
                   re.DOTALL | re.MULTILINE)
HEADING = re.compile(r"^#{1,6} ", re.MULTILINE)
# Where the figure's own characters end: not inside a dotted version (1.2.3), a DOI
# (10.5281/zenodo...) or scientific notation (3.4e38).
_END = r"(?![\w.]*\.\d)(?![/\w])"
FIGURE = re.compile(
    r"(?<![\w.\-/])(?:"
    r"\d+(?:\.\d+)?\s?%"
    r"|\d+(?:\.\d+)?\s?(?:ms|s|seconds?|min|minutes?|h|hours?)\b"
    r"|\d+(?:\.\d+)?\s?(?:×|x|times)\s(?:faster|slower|more|less|as|chance|the)\b"
    r"|\d+\.\d+" + _END +
    r")",
    re.IGNORECASE,
)
# A number right after one of these words is a version or a licence, not a measurement.
NOT_MEASURED_BEFORE = re.compile(
    r"(?:python|version|v|licen[cs]e|CC0|CC BY|CC BY-SA|BY-SA|Apache|DOI|scikit-learn|"
    r"sklearn|torch|pandas|numpy|sphinx|skorch|[<>=]=?)\s*$",
    re.IGNORECASE,
)
SCRIPT = re.compile(r"\b(?:benchmarks|examples)/[\w/.-]+?\.py\b")
COMMAND = re.compile(r"\bmmlearn bench\b|\bpython -m pytest\b")


def _prose(text: str) -> str:
    """The text of a section with everything that is not a quoted figure blanked."""
    text = FENCE.sub(lambda m: " " if m["lang"] == "python" else m["body"], text)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = re.sub(r"``.*?``|`[^`]*`", " ", text, flags=re.DOTALL)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return re.sub(r"https?://\S+", " ", text)


def figures(text: str) -> list[str]:
    """The measured figures a section quotes (see the module docstring)."""
    prose = _prose(text)
    return [m.group(0) for m in FIGURE.finditer(prose)
            if not NOT_MEASURED_BEFORE.search(prose[max(0, m.start() - 20):m.start()])]


def sources(text: str) -> list[str]:
    """The commands in a section that can produce its figures."""
    found = [m.group(0) for m in SCRIPT.finditer(text) if (ROOT / m.group(0)).is_file()]
    found += [m.group(0) for m in COMMAND.finditer(text)]
    found += ["a python block" for m in FENCE.finditer(text) if m["lang"] == "python"]
    return found


def sections(page_text: str) -> list[str]:
    """The page cut at its headings (lines starting with # outside code blocks)."""
    fenced = [m.span() for m in FENCE.finditer(page_text)]
    cuts = [m.start() for m in HEADING.finditer(page_text)
            if not any(a <= m.start() < b for a, b in fenced)]
    bounds = [0, *cuts, len(page_text)]
    return [page_text[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


# Pages that still break the rule, each with what it needs; strict, so that the entry must
# go when the page is fixed.
PENDING: dict[str, str] = {}


@pytest.mark.parametrize("page", [
    pytest.param(p, marks=pytest.mark.xfail(reason=PENDING[p.name], strict=True))
    if p.name in PENDING else p for p in PAGES], ids=lambda p: p.name)
def test_every_figure_has_its_command(page):
    unsourced = []
    for section in sections(page.read_text()):
        quoted = figures(section)
        if quoted and not sources(section):
            title = section.strip().splitlines()[0]
            unsourced.append(f"  {title!r}: {', '.join(dict.fromkeys(quoted))}")
    assert not unsourced, (
        f"{page.name}: these sections quote measured figures with no command that produces "
        "them (name the script, e.g. `python benchmarks/x.py` or "
        "<!-- figure: python benchmarks/x.py -->, or write constants as inline code; "
        "see docs/contributing.md):\n" + "\n".join(unsourced))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_named_scripts_exist(page):
    missing = sorted({m.group(0) for m in SCRIPT.finditer(page.read_text())
                      if not (ROOT / m.group(0)).is_file()})
    assert not missing, f"{page.name} names scripts that do not exist: {missing}"


# The rule itself, on made-up pages: what it must flag and what it must leave alone.
@pytest.mark.parametrize("text, expected", [
    ("Accuracy 0.987 on the test set.", ["0.987"]),
    ("It took 45 s, 12 minutes in all, 31% of the budget.", ["45 s", "12 minutes", "31%"]),
    ("It is 3 times faster.", ["3 times faster"]),
    ("```text\nimage only  0.9872 +- 0.0042\n```", ["0.9872", "0.0042"]),
    ("| model | accuracy |\n|---|---|\n| SVC | 0.91 |", ["0.91"]),
    ("8×8 images, 1,797 pairs, 5-fold CV, 10 classes.", []),
    ("Python 3.11, scikit-learn 1.8, version 0.1.0.dev0, Apache License 2.0, CC0 1.0.", []),
    ("DOI 10.5281/zenodo.1342401; the float32 limit 3.4e38.", []),
    ("`modality_dropout=0.3` and `p >= 0.05`.", []),
    ("```python\nprint(score)   # 0.95\n```", []),
    ("See [the page](page.md#a-0.5-anchor) <!-- figure: 0.5 -->.", []),
])
def test_what_counts_as_a_figure(text, expected):
    assert figures(text) == expected


def test_what_counts_as_a_source():
    assert sources("`python benchmarks/av_digits_early_fusion.py` prints:") == [
        "benchmarks/av_digits_early_fusion.py"]
    assert sources("<!-- figure: python benchmarks/av_digits_early_fusion.py -->") == [
        "benchmarks/av_digits_early_fusion.py"]
    assert sources("```bash\nmmlearn bench --dataset emoji\n```") == ["mmlearn bench"]
    assert sources("```python\nprint(1)\n```") == ["a python block"]
    # A script that does not exist is no source (and test_named_scripts_exist names it).
    assert sources("`python benchmarks/no_such_script.py`") == []
    assert sources("Measured on a quiet machine.") == []


def test_sections_ignore_comments_in_code():
    page = "# Title\ntext 0.5\n```python\n# not a heading\nx = 1\n```\n## Next\n0.7\n"
    assert [s.splitlines()[0] for s in sections(page)] == ["# Title", "## Next"]
