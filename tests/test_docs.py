"""The documentation: README.md is a short door and docs/*.md hold the rest.

Checked: no section of the README as it was before docs/ existed (a frozen copy,
tests/data/docs/README-before-docs.md) was lost (its every heading is a heading of README.md or
a docs/ page, same text); README.md stays short; every relative link leads to a file that
exists (and to a heading there, when it names one); every file path under translator/,
worker/, web/, tests/ or benchmarks/ that the pages name exists (a path with a wildcard or a
placeholder, such as `tests/data/formats/*/make.sh`, is skipped).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEFORE = Path(__file__).parent / "data" / "docs" / "README-before-docs.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 260

PATH = re.compile(r"(?<![\w./-])((?:translator|worker|web|tests|benchmarks)/[\w./*<>{}-]*)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def headings(path: Path) -> list[str]:
    """The text of every heading (not of `#` lines inside code blocks)."""
    tokens = MarkdownIt("commonmark").parse(path.read_text())
    return [tokens[i + 1].content.strip() for i, token in enumerate(tokens)
            if token.type == "heading_open"]


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation but hyphens dropped, spaces
    as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def named_paths(text: str) -> set[str]:
    return {match.rstrip(".,:;") for match in PATH.findall(text)}


def test_no_section_of_the_old_readme_was_lost():
    old = headings(BEFORE)
    assert len(old) == 19, old  # the frozen copy is read as it was
    now = {h for page in PAGES for h in headings(page)}
    assert [h for h in old if h not in now] == []


def test_the_readme_is_a_door():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, len(lines)
    assert "docs/" in README.read_text()


def test_the_readme_keeps_the_commands_ci_and_users_run():
    text = README.read_text()
    assert "\nmake run     # set up, train a quick De->En model" in text
    assert "\nmake test    # set up, run ruff and the test suite" in text
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_somewhere(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in map(slug, headings(path)):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_files_exist(page):
    named = named_paths(page.read_text())
    checked = {p for p in named if not re.search(r"[*<>{}]", p)}
    assert [p for p in sorted(checked) if not (ROOT / p).exists()] == []


def test_paths_are_found_and_placeholders_skipped():
    text = ("see `translator/inference/search.py`, tests/helpers.py. and "
            "`tests/data/formats/*/make.sh`, not https://example.org/web/x or a/worker/b")
    assert named_paths(text) == {"translator/inference/search.py", "tests/helpers.py",
                                 "tests/data/formats/*/make.sh"}


def test_the_testing_page_names_every_test_file():
    """docs/testing.md's map of the test files stays whole: a new file is named there."""
    page = (ROOT / "docs" / "testing.md").read_text()
    files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py"))
    assert [f for f in files if f not in page and f"`{Path(f).name}`" not in page] == []
