"""What ``modelgate demo`` prints once its registries are filled: which kinds
run, and what to look at in each (lineage across registries, a stage
conflict, serving traffic)."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.wording import plural

# kind -> (its registries, what to look at there)
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "native": (
        "platform, research",
        ("8 models, 31 versions across two teams and every stage: the catalogue at {base}/",),
    ),
    "gto": (
        "models-git",
        (
            "churn-gbm is in production by the Git tag churn-gbm#prod#1 and descends from "
            "mg://platform/churn-predictor/3 (its Impact page lists it)",
        ),
    ),
    "sagemaker": (
        "fraud-sagemaker",
        (
            "lineage: fraud-detector-sm v1 is the very artifact of mg://platform/fraud-detector/5 "
            "(SAME_AS), v2 derives from mg://platform/fraud-detector/6 and churn-retention-offers v2 "
            "from mg://platform/churn-predictor/3: {base}/#/impact?uri=mg://platform/fraud-detector/5",
            "conflict: both fraud-detector-sm packages are Approved, so two PRODUCTION versions; its model "
            "page flags modelgate.multiple-production, GraphQL models(filter: { multipleProduction: true }) "
            "lists it: {base}/#/model/mg%3A%2F%2Ffraud-sagemaker%2Ffraud-detector-sm",
            "serving: endpoint fraud-detector-live sends 90% to v1 and 10% to v2: {base}/#/serving",
        ),
    ),
    "mlflow": (
        "fraud-mlflow",
        (
            "fraud-detector-eu holds production twice (legacy Production stage on v1, the champion "
            "alias on v2); its v1 is the same artifact as mg://platform/fraud-detector/5",
        ),
    ),
}


def demo_summary(kinds: Sequence[str], base: str) -> str:
    """The kinds that run, in order, each with its registries and what to look at."""
    shown = [k for k in KINDS if k in kinds]
    lines = [f"Federating {plural(len(shown), 'registry kind')}: {', '.join(shown)}. What to look at:"]
    for kind in shown:
        registries, notes = KINDS[kind]
        lines.append(f"  {kind} ({registries}):")
        lines.extend(f"    - {note.replace('{base}', base)}" for note in notes)
    return "\n".join(lines)
