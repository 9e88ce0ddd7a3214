"""Docs that point somewhere: every relative link and every file name the READMEs, the
docs and the code's docstrings and comments mention exists in the repository."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(
    p
    for pattern in ("README.md", "*/README.md", "services/*/README.md", "docs/*.md", "deploy/*.md")
    for p in ROOT.glob(pattern)
)
SOURCES = sorted(
    p
    for pattern in (
        "shared/src/**/*.py",
        "services/*/src/**/*.py",
        "devtools/src/**/*.py",
        "ops/src/**/*.py",
        "bench/*.py",
        "tests/**/*.py",
        "services/*/tests/**/*.py",
    )
    for p in ROOT.glob(pattern)
    if "migrations/versions" not in str(p)
)
TRACKED = subprocess.run(
    ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
).stdout.splitlines()
LINK = re.compile(r"\]\(([^)\s]+)\)")
# a file name in backticks: a path with a known extension (or a folder ending in /)
NAMED = re.compile(r"`([\w.\-/]+?\.(?:py|md|yaml|yml|json|toml|sh|txt|html|js|css|po|tsv|csv))`")
PACKAGES = {p.name: p for p in ROOT.glob("*/src/crm_*")} | {
    p.name: p for p in ROOT.glob("services/*/src/crm_*")
}
# names of files in other projects (the patterns we copy), of the team's shared documents
# beside the repository (../shared/), made at run time, or paths the services serve
ELSEWHERE = re.compile(
    r"^(\.\./shared/|backend/|server/|kit/|polar/|docs_src/|packages/|examples/|addons/|bootstrap\.py$|"
    r"service_layer/|package-lock\.json$|/tmp/|\.crm/|~|values-.*\.yaml$|my-values\.yaml$|"
    r"FILE|app\.py$|/(api/)?openapi\.json$)"
)


def _resolves(name: str, where: Path) -> bool:
    name = name.split("#", 1)[0].rstrip("/")
    if not name or ELSEWHERE.search(name):
        return True
    first, _, rest = name.partition("/")
    candidates = [where.parent / name, ROOT / name]
    if first in PACKAGES:
        candidates.append(PACKAGES[first] / rest)
    for package in PACKAGES.values():  # a module named from inside its package
        candidates.append(package / name)
    # or named from somewhere inside the tree (`handlers.py`, `dashboard/filter_fields.html`)
    return any(c.exists() for c in candidates) or any(
        path == name or path.endswith(f"/{name}") for path in TRACKED
    )


def _markdown_names(path: Path) -> list[str]:
    text = path.read_text()
    links = [t for t in LINK.findall(text) if not re.match(r"^(https?:|mailto:|#)", t)]
    return links + NAMED.findall(text)


def _source_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    texts = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    comments = [line.split("#", 1)[1] for line in path.read_text().splitlines() if "#" in line]
    return [name for text in [*texts, *comments] for name in NAMED.findall(text)]


def test_every_link_and_file_name_in_the_docs_resolves() -> None:
    broken = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in DOCS
        for name in _markdown_names(path)
        if not _resolves(name, path)
    ]
    assert not broken, "\n".join(broken)


def test_every_file_name_in_docstrings_and_comments_resolves() -> None:
    broken = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in SOURCES
        for name in _source_names(path)
        if not _resolves(name, path)
    ]
    assert not broken, "\n".join(broken)
