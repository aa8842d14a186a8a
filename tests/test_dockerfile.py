"""No Docker engine runs here: check what can be checked without one."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    text = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def test_every_copied_path_exists() -> None:
    for args in instructions("COPY"):
        *sources, _dest = args.split()
        for source in sources:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which does not exist"


def test_runs_as_non_root_with_a_healthcheck() -> None:
    (user,) = instructions("USER")
    assert user.strip() not in ("root", "0")
    (check,) = instructions("HEALTHCHECK")
    assert "/healthz" in check
    assert re.search(r"8080", check)


def test_entrypoint_serves_the_shipped_config() -> None:
    (entry,) = instructions("ENTRYPOINT")
    (cmd,) = instructions("CMD")
    assert '"modelgate"' in entry
    assert '"serve"' in cmd
    config_path = re.search(r'"(/etc/modelgate/[^"]+)"', cmd).group(1)  # type: ignore[union-attr]
    assert (REPO / "config" / Path(config_path).name).exists()


def test_base_image_is_slim_python() -> None:
    (base,) = instructions("FROM")
    assert re.fullmatch(r"python:3\.1[1-9]-slim", base.strip())


def test_the_image_carries_the_manual() -> None:
    """The site is built (strict, offline) before the package is installed for good,
    so the installed package has it for /docs."""
    (run,) = [r for r in instructions("RUN") if "mkdocs build" in r]
    assert "--strict" in run
    assert run.index("mkdocs build") < run.rindex("pip install")
    copied = {args.split()[0] for args in instructions("COPY")}
    assert {"docs", "config"} <= copied
    assert "mkdocs.yml" in " ".join(instructions("COPY"))
