"""The README and docs/ link only to files a clone has: nothing outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import REPO_ROOT

# [text](target) and ![alt](target), with an optional "title"; and [label]: target definitions.
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...
COPIES = {
    "docs/shared/PROTOCOL.md": "shared/PROTOCOL.md",
    "docs/shared/seed/websocket-design.md": "shared/seed/websocket-design.md",
}


def pages() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]


def without_code(text: str) -> str:
    """The text with fenced code blocks and inline code blanked out (links there are examples)."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def links(page: Path) -> list[str]:
    text = without_code(page.read_text(encoding="utf-8"))
    return INLINE_LINK.findall(text) + DEFINITION.findall(text)


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_local_link_is_a_file_in_the_repository(page):
    bad = []
    for target in links(page):
        if EXTERNAL.match(target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.is_relative_to(REPO_ROOT):
            bad.append(f"{target} (outside the repository)")
        elif not path.exists():
            bad.append(f"{target} (no such file)")
    assert not bad, f"{page.relative_to(REPO_ROOT)}: {bad}"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_page_points_above_the_repository(page):
    # Also in code spans: "../shared/PROTOCOL.md" is no path a reader of a clone can open.
    text = page.read_text(encoding="utf-8")
    depth = len(page.parent.relative_to(REPO_ROOT).parts)
    above = [m.group(0) for m in re.finditer(r"(?:\.\./)+[\w.-]+", text) if m.group(0).count("../") > depth]
    assert not above, f"{page.relative_to(REPO_ROOT)} points outside the repository: {above}"


def test_the_readme_links_the_protocol_documents_in_the_repository():
    readme = REPO_ROOT / "README.md"
    targets = {(readme.parent / t).resolve() for t in links(readme)}
    for copy in (*COPIES, "docs/protocol.md"):
        assert (REPO_ROOT / copy).resolve() in targets, f"README.md does not link {copy}"


@pytest.mark.parametrize("copy, original", COPIES.items())
def test_the_copies_say_they_are_copies_of_the_teams_documents(copy, original):
    first, blank, *rest = (REPO_ROOT / copy).read_text(encoding="utf-8").splitlines()
    assert first.startswith("> A copy of the team's") and f"`{original}`" in first and blank == ""
    assert rest and rest[0].startswith("# "), "the document itself follows the note"
