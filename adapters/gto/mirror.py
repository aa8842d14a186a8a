"""A bare local mirror of the registry's repository, kept with ``git fetch``.

GTO's own commands clone a remote URL into a temporary directory on every call
(gto#25), seconds each at ~1,500 tags (gto#156). modelgate keeps one bare
mirror per registry instead and asks the remote first with ``git ls-remote``
(one round trip): when the advertised refs equal the mirror's, nothing is
fetched at all.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path

from adapters.gto.git import Git, GitError
from adapters.gto.options import GtoSettings
from adapters.gto.tags import TagRecord
from adapters.toolkit.timestamps import to_utc
from gateway.errors import RegistryUnavailable

FETCH_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
# for-each-ref fields, NUL-separated; the message may hold newlines but no NUL.
TAG_FORMAT = (
    "%(refname)%00%(objecttype)%00%(objectname)%00%(*objectname)%00"
    "%(taggername)%00%(taggeremail)%00%(taggerdate:unix)%00%(contents)%00"
)
TAG_FIELDS = 8


@dataclass(frozen=True)
class RemoteRefs:
    """What the remote advertises: every ref and the branch ``HEAD`` names."""

    refs: dict[str, str]  # ref name -> object id (tags: the tag object, not the peeled commit)
    head: str | None  # "refs/heads/main"

    @property
    def digest(self) -> str:
        text = "\n".join(f"{oid} {ref}" for ref, oid in sorted(self.refs.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Blob:
    object_id: str  # the same file at many commits is one object: parsed once
    data: bytes


class Mirror:
    def __init__(self, registry_id: str, settings: GtoSettings, path: Path):
        self.registry_id = registry_id
        self.settings = settings
        self.path = path
        self.git = Git(registry_id, settings, path)

    async def ensure(self) -> None:
        """Create the bare mirror on first use; point it at the configured URL."""
        if not (self.path / "HEAD").exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            await self.git.run("init", "--bare", "--quiet", str(self.path), bare=False)
        try:
            url = (await self.git.run("config", "--get", "remote.origin.url")).decode().strip()
        except GitError:
            url = None
        if url != self.settings.repo:
            if url is not None:
                await self.git.run("remote", "remove", "origin")
            await self.git.run("remote", "add", "origin", self.settings.repo)
            await self.git.run("config", "--unset-all", "remote.origin.fetch")
            for spec in FETCH_REFSPECS:
                await self.git.run("config", "--add", "remote.origin.fetch", spec)

    async def remote_refs(self) -> RemoteRefs:
        """``git ls-remote --symref``: the one round trip of an unchanged repository."""
        try:
            out = await self.git.run("ls-remote", "--symref", self.settings.repo, bare=False)
        except GitError as exc:
            raise self.git.remote_error(exc, "listing its refs") from None
        refs: dict[str, str] = {}
        head = None
        for line in out.decode("utf-8", "replace").splitlines():
            left, _, ref = line.partition("\t")
            if left.startswith("ref: ") and ref == "HEAD":
                head = left[len("ref: ") :]
            elif ref.startswith(("refs/tags/", "refs/heads/")) and not ref.endswith("^{}"):
                refs[ref] = left
        return RemoteRefs(refs, head)

    async def local_refs(self) -> dict[str, str]:
        out = await self.git.run(
            "for-each-ref", "--format=%(objectname) %(refname)", "refs/tags", "refs/heads"
        )
        refs: dict[str, str] = {}
        for line in out.decode("utf-8", "replace").splitlines():
            oid, _, ref = line.partition(" ")
            refs[ref] = oid
        return refs

    async def fetch(self) -> None:
        try:
            await self.git.run(
                "fetch", "--quiet", "--prune", "--prune-tags", "--force", "--no-auto-gc", "origin"
            )
        except GitError as exc:
            raise self.git.remote_error(exc, "fetching") from None

    async def tags(self) -> list[TagRecord]:
        """Every annotated tag of the mirror (lightweight ones are not GTO's)."""
        out = await self.git.run("for-each-ref", f"--format={TAG_FORMAT}", "refs/tags")
        fields = out.decode("utf-8", "replace").split("\x00")
        records: list[TagRecord] = []
        for i in range(0, len(fields) - TAG_FIELDS + 1, TAG_FIELDS):
            ref, kind, oid, peeled, name, email, when, message = fields[i : i + TAG_FIELDS]
            ref = ref.lstrip("\n")
            if kind != "tag" or not peeled:
                continue
            time = to_utc(int(when), epoch_unit="s") if when.strip().isdigit() else None
            if time is None:
                continue
            records.append(
                TagRecord(
                    name=ref.removeprefix("refs/tags/"),
                    object_id=oid,
                    commit=peeled,
                    tagger_name=name,
                    tagger_email=email.strip("<>"),
                    time=time,
                    message=message.strip(),
                )
            )
        return records

    async def head(self, branch_ref: str | None) -> tuple[str, int] | None:
        """The branch's commit and its commit time, or None if the branch is absent."""
        ref = branch_ref or "HEAD"
        try:
            out = await self.git.run("log", "-1", "--format=%H %ct", ref, "--")
        except GitError:
            return None
        commit, _, when = out.decode().strip().partition(" ")
        return (commit, int(when)) if commit and when.isdigit() else None

    async def read_blobs(self, specs: list[str]) -> dict[str, Blob | None]:
        """``<commit>:<path>`` → the file (None if absent), in one ``cat-file --batch``."""
        unique = list(dict.fromkeys(specs))
        if not unique:
            return {}
        out = await self.git.run("cat-file", "--batch", stdin=("\n".join(unique) + "\n").encode())
        blobs: dict[str, Blob | None] = {}
        pos = 0
        for spec in unique:
            end = out.index(b"\n", pos)
            header = out[pos:end].decode("utf-8", "replace")
            pos = end + 1
            parts = header.split(" ")
            if len(parts) == 3 and parts[2].isdigit():
                size = int(parts[2])
                blobs[spec] = Blob(parts[0], out[pos : pos + size]) if parts[1] == "blob" else None
                pos += size + 1
            else:  # "<spec> missing" / "ambiguous"
                blobs[spec] = None
        return blobs

    async def create_tag(self, name: str, commit: str, message: str, *, date: int) -> None:
        identity = (
            "-c",
            f"user.name={self.settings.committer_name}",
            "-c",
            f"user.email={self.settings.committer_email}",
        )
        env = {"GIT_COMMITTER_DATE": f"{date} +0000"}
        await self.git.run(*identity, "tag", "--annotate", "--message", message, name, commit, env=env)

    async def delete_tags(self, names: list[str]) -> None:
        if names:
            with contextlib.suppress(GitError):  # already gone
                await self.git.run("tag", "--delete", *names)

    async def push_tags(self, names: list[str]) -> None:
        try:
            await self.git.run(
                "push", "--porcelain", "origin", *(f"refs/tags/{n}:refs/tags/{n}" for n in names)
            )
        except GitError as exc:
            raise self.git.remote_error(exc, f"pushing {', '.join(names)}") from None


def unavailable(registry_id: str, settings: GtoSettings, why: str) -> RegistryUnavailable:
    return RegistryUnavailable(registry_id, f"{settings.repo}: {why}", remote=settings.repo)
