"""``adapters.gto.git`` and ``adapters.gto.mirror``: git as a subprocess with
credentials kept off the command line, and the bare mirror kept with one
``ls-remote`` round trip; against a real repository on disk (``file://``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from adapters.gto.git import Git, GitError
from adapters.gto.mirror import Mirror
from adapters.gto.options import GtoSettings, load_settings
from gateway.config import RegistrySettings
from gateway.errors import RegistryAuthError, RegistryRejected, RegistryUnavailable


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "ann",
        "GIT_AUTHOR_EMAIL": "ann@example.com",
        "GIT_COMMITTER_NAME": "ann",
        "GIT_COMMITTER_EMAIL": "ann@example.com",
        "HOME": str(cwd),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A repository with one commit, an annotated registration tag and a lightweight tag."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    (work / "dvc.yaml").write_text("artifacts:\n  churn: {type: model, path: m.pkl}\n")
    git(work, "add", "dvc.yaml")
    git(work, "commit", "--quiet", "-m", "churn")
    git(work, "tag", "--annotate", "-m", "Registering churn v1.0.0", "churn@v1.0.0")
    git(work, "tag", "lightweight")
    return work


def settings_for(url: str, environ: dict[str, str] | None = None, **options: object) -> GtoSettings:
    registry = RegistrySettings(id="gto", kind="gto", options={"repo": url, **options})
    return load_settings(registry, environ=environ or {})


def test_a_token_travels_in_git_config_variables_never_in_argv(tmp_path: Path) -> None:
    runner = Git(
        "gto",
        settings_for("https://git.example.com/models.git", {"GIT_TOKEN": "s3cret"}, token_env="GIT_TOKEN"),
        tmp_path / "m.git",
    )
    env = runner._environment({"GIT_DIR": "/elsewhere", "GIT_CONFIG_KEY_0": "core.pager", "PATH": "/bin"})
    assert "GIT_DIR" not in env and env["GIT_TERMINAL_PROMPT"] == "0"
    pairs = {
        env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(int(env["GIT_CONFIG_COUNT"]))
    }
    assert pairs["credential.helper"] == "" and pairs["http.extraHeader"].startswith("Authorization: Basic ")
    assert "s3cret" not in pairs["http.extraHeader"]  # base64, and only in the environment
    assert "BatchMode=yes" in env["GIT_SSH_COMMAND"]


def test_failures_of_remote_commands_are_classified(tmp_path: Path) -> None:
    runner = Git("gto", settings_for("https://git.example.com/models.git"), tmp_path / "m.git")
    denied = GitError(["fetch"], 128, "remote: HTTP Basic: Access denied\nfatal: Authentication failed for x")
    refused = GitError(["push"], 1, "hint: pull first\n ! [remote rejected] churn#prod#1 (hook declined)")
    gone = GitError(["ls-remote"], 128, "fatal: unable to access: Could not resolve host: git.example.com")
    assert isinstance(runner.remote_error(denied, "fetching"), RegistryAuthError)
    rejected = runner.remote_error(refused, "pushing churn#prod#1")
    assert isinstance(rejected, RegistryRejected) and "hint" not in rejected.message
    unreachable = runner.remote_error(gone, "listing its refs")
    assert isinstance(unreachable, RegistryUnavailable) and "Could not resolve host" in unreachable.message


async def test_a_failed_command_is_a_git_error_with_its_message(tmp_path: Path) -> None:
    runner = Git("gto", settings_for(f"file://{tmp_path}/none.git"), tmp_path / "absent.git")
    with pytest.raises(GitError) as failed:
        await runner.run("rev-parse", "HEAD")
    assert failed.value.returncode != 0 and failed.value.stderr


async def test_the_mirror_fetches_tags_reads_files_and_pushes_a_tag(remote: Path, tmp_path: Path) -> None:
    mirror = Mirror("gto", settings_for(f"file://{remote}"), tmp_path / "mirrors" / "gto.git")
    await mirror.ensure()
    await mirror.ensure()  # idempotent: the remote stays configured once
    advertised = await mirror.remote_refs()
    assert advertised.head == "refs/heads/main" and "refs/tags/churn@v1.0.0" in advertised.refs
    assert await mirror.local_refs() == {}
    await mirror.fetch()
    assert await mirror.local_refs() == advertised.refs
    (tag,) = await mirror.tags()  # the lightweight tag is not GTO's
    assert (tag.name, tag.message, tag.tagger_email) == (
        "churn@v1.0.0",
        "Registering churn v1.0.0",
        "ann@example.com",
    )
    head = await mirror.head("refs/heads/main")
    assert head is not None and head[0] == tag.commit and await mirror.head("refs/heads/absent") is None
    blobs = await mirror.read_blobs(
        [f"{tag.commit}:dvc.yaml", f"{tag.commit}:absent.yaml", f"{tag.commit}:dvc.yaml"]
    )
    dvc_yaml = blobs[f"{tag.commit}:dvc.yaml"]
    assert dvc_yaml is not None and b"churn" in dvc_yaml.data
    assert blobs[f"{tag.commit}:absent.yaml"] is None and len(blobs) == 2
    await mirror.create_tag("churn#prod#1", tag.commit, "Assigning stage prod", date=1_800_000_000)
    await mirror.push_tags(["churn#prod#1"])
    assert "churn#prod#1" in git(remote, "tag", "--list")
    await mirror.delete_tags(["churn#prod#1", "never-there"])
    assert {t.name for t in await mirror.tags()} == {"churn@v1.0.0"}
    assert (await mirror.remote_refs()).digest != advertised.digest  # the remote gained a tag


async def test_an_absent_remote_is_unavailable_naming_it(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/missing.git"
    mirror = Mirror("gto", settings_for(url), tmp_path / "gto.git")
    await mirror.ensure()
    with pytest.raises(RegistryUnavailable) as down:
        await mirror.remote_refs()
    assert url in down.value.message
