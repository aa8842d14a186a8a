"""Git as a subprocess (``asyncio``), with credentials from the environment only.

Every call runs ``git`` against the registry's bare mirror with prompts off.
An https token travels as an ``http.extraHeader`` set through ``GIT_CONFIG_*``
variables, so it is never on a command line (visible in ``ps``) nor written to
the mirror's config; an SSH key through ``GIT_SSH_COMMAND``. Failures become
the shared error taxonomy: an unreachable or missing remote is
``RegistryUnavailable`` naming the URL, refused credentials
``RegistryAuthError``, a refused push ``RegistryRejected`` carrying the
remote's own message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from adapters.gto.options import GtoSettings
from gateway.errors import RegistryAuthError, RegistryError, RegistryRejected, RegistryUnavailable

AUTH_FAILURE = re.compile(
    r"authentication failed|could not read (username|password)|permission denied \(publickey"
    r"|http (basic: )?access denied|\b401\b|\b403\b",
    re.IGNORECASE,
)
PUSH_REJECTED = re.compile(r"\[(remote )?rejected\]|failed to push|hook declined|denied", re.IGNORECASE)


class GitError(Exception):
    """A git command that exited non-zero (before it is mapped to a ``RegistryError``)."""

    def __init__(self, args: Sequence[str], returncode: int, stderr: str):
        super().__init__(f"git {' '.join(args[:2])} exited {returncode}: {stderr}")
        self.args_ = tuple(args)
        self.returncode = returncode
        self.stderr = stderr


class Git:
    """Runs git for one registry: its mirror directory, its remote and credentials."""

    def __init__(self, registry_id: str, settings: GtoSettings, git_dir: Path, *, binary: str = "git"):
        self.registry_id = registry_id
        self.settings = settings
        self.git_dir = git_dir
        self.binary = binary
        self._env = self._environment(os.environ)

    def _environment(self, base: Mapping[str, str]) -> dict[str, str]:
        dropped = ("GIT_CONFIG_", "GIT_DIR", "GIT_WORK_TREE", "GIT_ASKPASS", "SSH_ASKPASS")
        env = {k: v for k, v in base.items() if not k.startswith(dropped)}
        env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C", LANG="C")  # no prompts; messages we can match
        config: list[tuple[str, str]] = [("credential.helper", "")]  # never a stored or prompted secret
        if self.settings.token:
            basic = base64.b64encode(f"{self.settings.token_user}:{self.settings.token}".encode()).decode()
            config.append(("http.extraHeader", f"Authorization: Basic {basic}"))
        for i, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{i}"] = key
            env[f"GIT_CONFIG_VALUE_{i}"] = value
        env["GIT_CONFIG_COUNT"] = str(len(config))
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        if self.settings.ssh_key_file:
            ssh += ["-i", self.settings.ssh_key_file, "-o", "IdentitiesOnly=yes"]
        env["GIT_SSH_COMMAND"] = shlex.join(ssh)
        return env

    async def run(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None, bare: bool = True
    ) -> bytes:
        """Run ``git [--git-dir=MIRROR] ARGS``; stdout, or ``GitError``; a timeout is
        ``RegistryUnavailable``."""
        argv = [self.binary, *(["--git-dir", str(self.git_dir)] if bare else []), *args]
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**self._env, **(env or {})},
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(stdin), self.settings.timeout_seconds)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise RegistryUnavailable(
                self.registry_id,
                f"git {args[0]} against {self.settings.repo} timed out "
                f"after {self.settings.timeout_seconds:g}s",
            ) from None
        if process.returncode != 0:
            # stdout too: ``push --porcelain`` reports a refused ref there, with the remote's reason
            text = (err + b"\n" + out).decode("utf-8", "replace").strip()
            raise GitError(args, process.returncode or 1, text)
        return out

    def remote_error(self, exc: GitError, doing: str) -> RegistryError:
        """A failed network command (ls-remote, fetch, push) as a coded error naming the URL."""
        detail = _last_lines(exc.stderr)
        url = self.settings.repo
        if AUTH_FAILURE.search(exc.stderr):
            return RegistryAuthError(
                self.registry_id, f"{url} refused the credentials while {doing}: {detail}"
            )
        if doing.startswith("pushing") and PUSH_REJECTED.search(exc.stderr):
            return RegistryRejected(self.registry_id, f"{url} rejected the push: {detail}", remote=url)
        return RegistryUnavailable(
            self.registry_id, f"cannot reach {url} while {doing}: {detail}", remote=url
        )


def _last_lines(text: str, limit: int = 4) -> str:
    """The lines that explain a failure: what the remote said (``remote:``) and the
    refused refs first, else the last lines of git's own message."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("hint:")]
    told = [line for line in lines if line.startswith("remote:") or "rejected]" in line]
    return " | ".join(told[-limit:] or lines[-limit:]) or "no message"
