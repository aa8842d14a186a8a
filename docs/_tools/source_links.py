"""MkDocs hook: links from a page to a file of the repository outside docs/.

The pages link source files the way they read on a Git host (``../adapters/protocol.py``).
The site has no Git host to send them to (it is served offline, from the package), so
every repository file a page links is copied into the site under ``source/`` and the
link is pointed there: a Python or YAML file as text (``.txt`` appended), a Markdown file (such as
``gateway/lineage/README.md``) as a page of its own, whose links are followed the same
way; a link to a folder shows its README.md (a folder without one becomes plain
text). A link to a repository file that does not exist is left alone, so MkDocs reports
it and ``--strict`` fails, unless ``MODELGATE_DOCS_SOURCES=optional`` says the
build has only part of the repository (the Docker image copies no tests): then such
a link becomes its plain text.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

# [text](target) or [text](target#anchor); targets with a scheme or a leading / are not ours.
LINK = re.compile(r"(\]\()([^)\s#]+)((?:#[^)\s]*)?\))")
SOURCE = "source"

_repo: Path | None = None
_docs: Path | None = None
# src_uri of a copied Markdown page -> its path in the repository (for its own links).
_copied_pages: dict[str, Path] = {}


def _unlinkable(page_dir: Path, target: str, *, optional: bool) -> bool:
    """A link into the repository, outside docs/, the site cannot follow: a folder
    without a README, or (``optional``) a file this partial checkout lacks."""
    assert _repo is not None and _docs is not None
    if "://" in target or target.startswith(("/", "mailto:")):
        return False
    path = (page_dir / target).resolve()
    if not path.is_relative_to(_repo) or path.is_relative_to(_docs):
        return False
    if path.is_dir():
        return not (path / "README.md").is_file()
    return optional and not path.exists()


def _outside_target(page_dir: Path, target: str) -> Path | None:
    """The repository file ``target`` names from ``page_dir`` when it lies outside docs/."""
    assert _repo is not None and _docs is not None
    if "://" in target or target.startswith(("/", "mailto:")):
        return None
    path = (page_dir / target).resolve()
    if path.is_relative_to(_docs) or not path.is_relative_to(_repo):
        return None
    if path.is_dir() and (path / "README.md").is_file():
        return path / "README.md"  # a folder reads as its README, as on a Git host
    return path if path.is_file() else None


def _inside_docs(page_dir: Path, target: str) -> bool:
    assert _docs is not None
    if "://" in target or target.startswith(("/", "mailto:")):
        return False
    return (page_dir / target).resolve().is_relative_to(_docs)


def _source_uri(path: Path) -> str:
    """Where a repository file sits in the site. Anything but Markdown gets ``.txt``
    appended: browsers show it as text, and no ``.py`` lands inside the package."""
    assert _repo is not None
    uri = f"{SOURCE}/{path.relative_to(_repo).as_posix()}"
    return uri if path.suffix == ".md" else uri + ".txt"


def on_files(files: Files, config: Any) -> Files:
    global _repo, _docs
    _docs = Path(config["docs_dir"]).resolve()
    _repo = Path(config["config_file_path"]).resolve().parent
    _copied_pages.clear()
    pending = [Path(f.abs_src_path) for f in files.documentation_pages() if f.abs_src_path]
    seen: set[Path] = set()
    while pending:
        markdown = pending.pop()
        for match in LINK.finditer(markdown.read_text(encoding="utf-8")):
            target = _outside_target(markdown.parent, match.group(2))
            if target is None or target in seen:
                continue
            seen.add(target)
            uri = _source_uri(target)
            files.append(File.generated(config, uri, abs_src_path=str(target)))
            if target.suffix == ".md":
                _copied_pages[uri] = target
                pending.append(target)
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    src_uri: str = page.file.src_uri
    where = _copied_pages.get(src_uri)
    page_dir = where.parent if where is not None else Path(page.file.abs_src_path).parent

    optional = os.environ.get("MODELGATE_DOCS_SOURCES") == "optional"
    # [text](../tests/x.py) -> text: a folder with nothing to show, or a file this partial checkout lacks.
    markdown = re.sub(
        r"\[([^\]]*)\]\(([^)\s#]+)(#[^)\s]*)?\)",
        lambda m: m.group(1) if _unlinkable(page_dir, m.group(2), optional=optional) else m.group(0),
        markdown,
    )

    def relink(match: re.Match[str]) -> str:
        target = _outside_target(page_dir, match.group(2))
        if target is not None:
            uri = _source_uri(target)
        elif where is not None and _inside_docs(page_dir, match.group(2)):
            # A copied page linking a page of the site: from where the copy now sits.
            assert _docs is not None
            uri = (page_dir / match.group(2)).resolve().relative_to(_docs).as_posix()
        else:
            return match.group(0)
        relative = posixpath.relpath(uri, posixpath.dirname(src_uri) or ".")
        return f"{match.group(1)}{relative}{match.group(3)}"

    return LINK.sub(relink, markdown)
