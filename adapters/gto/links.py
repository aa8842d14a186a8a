"""A link to the Git repository that is a GTO registry."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# scp-like SSH remotes: git@github.com:org/repo.git
SCP_REMOTE = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+):(?P<path>(?!/).+)$")


def repository_url(repo: str) -> str | None:
    """The repository as a person opens it: an https page for https and SSH remotes
    (credentials and ``.git`` dropped), a ``file://`` URL for a local repository,
    None for what a browser cannot show (``git://``)."""
    parts = urlsplit(repo)
    if parts.scheme in ("http", "https", "ssh"):
        host = parts.hostname or ""
        if not host:
            return None
        scheme = parts.scheme if parts.scheme != "ssh" else "https"
        port = f":{parts.port}" if parts.port and parts.scheme != "ssh" else ""
        return urlunsplit((scheme, f"{host}{port}", _strip_git(parts.path), "", ""))
    if parts.scheme == "file":
        return repo
    if repo.startswith("/"):
        return Path(repo).as_uri()
    if not parts.scheme or len(parts.scheme) == 1:  # a path, or C:\... on Windows
        scp = SCP_REMOTE.match(repo)
        if scp and "/" not in scp["host"]:
            return f"https://{scp['host']}/{_strip_git(scp['path']).lstrip('/')}"
        return None
    return None


def _strip_git(path: str) -> str:
    path = path.rstrip("/")
    return path[: -len(".git")] if path.endswith(".git") else path
