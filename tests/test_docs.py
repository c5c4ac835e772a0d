"""The documentation a reader meets: a short front door, an index of every results folder, links that resolve, and
nothing that points outside the repository."""

import re

from support import REPO

RESULTS = REPO / "results"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
OUTSIDE_REFERENCES = re.compile(r"\bissues? #?\d+|\bthe issue's\b", re.IGNORECASE)


def _pages():
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted(RESULTS.glob("*/README.md")),
            RESULTS / "README.md"]


def test_the_readme_is_a_front_door():
    assert len((REPO / "README.md").read_text().splitlines()) <= 250


def test_the_results_index_names_every_folder_once_and_only_folders_that_exist():
    rows = re.findall(r"^\| \[([^\]]+)\]\(([^)]+)\) \|", (RESULTS / "README.md").read_text(), re.MULTILINE)
    named = [name for name, _ in rows]
    folders = sorted(p.name for p in RESULTS.iterdir() if p.is_dir())
    assert sorted(named) == folders
    assert len(named) == len(set(named))
    for name, target in rows:
        assert target == f"{name}/README.md"
    for row in re.findall(r"^\| \[.*$", (RESULTS / "README.md").read_text(), re.MULTILINE):
        status = row.split(" | ")[4]
        assert status.split()[0] in ("reference", "study", "diagnostic", "decision"), row


def test_every_relative_link_resolves():
    broken = []
    for page in _pages():
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = target.split("#")[0]
            if path and not (page.parent / path).exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
    assert not broken


def test_no_page_refers_to_issue_numbers():
    found = [f"{page.relative_to(REPO)}: {m.group(0)}" for page in _pages()
             for m in OUTSIDE_REFERENCES.finditer(page.read_text())]
    assert not found
