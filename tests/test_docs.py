"""The documentation quotes results that commands in the repository wrote, and points only inside it.

Conventions checked here:

* ``<!-- table: PATH -->`` before a markdown table: the table is the one in
  PATH (a file under ``results/``), row for row;
* ``<!-- output: PATH -->`` before a fenced code block: the block is PATH's text;
* every relative link of the README and ``docs/`` resolves to a file of the repository;
* the README stays a front page (at most 15,000 characters);
* ``results/MANIFEST.md`` lists every results folder, and only those (a run in progress, holding only its
  resumable ``.partial`` pieces, is no result yet).
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"<!--\s*(table|output):\s*(\S+)\s*-->")


def _table_rows(lines):
    return [ln.strip() for ln in lines if ln.strip().startswith("|")]


def _quoted(page: Path):
    """(kind, path, quoted text) for every marker of ``page``."""
    lines = page.read_text().splitlines()
    for i, line in enumerate(lines):
        m = MARKER.search(line)
        if not m:
            continue
        rest = lines[i + 1:]
        while rest and not rest[0].strip():
            rest = rest[1:]
        if m.group(1) == "table":
            block = []
            for ln in rest:
                if not ln.strip().startswith("|"):
                    break
                block.append(ln)
            yield "table", m.group(2), block
        else:
            assert rest and rest[0].startswith("```"), f"{page.name}: no code block after the marker for {m.group(2)}"
            end = next(j for j in range(1, len(rest)) if rest[j].startswith("```"))
            yield "output", m.group(2), rest[1:end]


QUOTES = [(page, *q) for page in PAGES for q in _quoted(page)]


def test_there_are_quoted_results():
    assert len(QUOTES) >= 5


@pytest.mark.parametrize("page, kind, path, block", QUOTES,
                         ids=[f"{p.name}:{path}" for p, _, path, _ in QUOTES])
def test_each_quoted_result_is_the_file_it_names(page, kind, path, block):
    f = ROOT / path
    assert f.is_file(), f"{page.name} quotes {path}, which is not in the repository"
    assert path.startswith("results/"), f"{page.name}: quoted results live under results/, not {path}"
    if kind == "table":
        assert block, f"{page.name}: no table after the marker for {path}"
        assert _table_rows(block) == _table_rows(f.read_text().splitlines()), f"{page.name} differs from {path}"
    else:
        assert [ln.rstrip() for ln in block] == [ln.rstrip() for ln in f.read_text().splitlines()], \
            f"{page.name} differs from {path}"


LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_links_stay_inside_the_repository(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        resolved = (page.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert resolved.exists(), f"{page.name} links to a missing file: {target}"


def test_readme_is_a_front_page():
    assert len((ROOT / "README.md").read_text()) <= 15_000


def _in_progress(folder: Path) -> bool:
    """A run still writing (or stopped, to be continued): only its resumable pieces and locks so far."""
    files = [f for f in folder.rglob("*") if f.is_file()]
    return bool(files) and all(f.name.endswith((".partial", ".lock")) for f in files)


def test_results_manifest_lists_every_folder():
    manifest = (ROOT / "results" / "MANIFEST.md").read_text()
    listed = set(re.findall(r"^\| `([^`]+)/` \|", manifest, flags=re.M))
    folders = {p.name for p in (ROOT / "results").iterdir() if p.is_dir() and not _in_progress(p)}
    assert listed == folders
