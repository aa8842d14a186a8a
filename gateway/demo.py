"""Realistic sample data for ``modelgate demo``: a living catalogue to explore.

Deterministic, so every newcomer sees the same catalogue, and idempotent: a
registry that already holds models is left alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from adapters.protocol import PromotionContext, RegistrationRequest, VersionRegistrar
from gateway.domain import CodeRef, DatasetRef, Deployment, ModelCard, ModelVersion, Stage
from gateway.runtime import Gateway


@dataclass(frozen=True)
class DemoVersion:
    semver: str
    stage: Stage
    metrics: dict[str, float]
    params: dict[str, str]
    dataset: str
    description: str
    parent: str | None = None
    deployed: float | None = None  # traffic percent when deployed


@dataclass(frozen=True)
class DemoModel:
    registry: str
    name: str
    description: str
    framework: str
    task: str
    card: ModelCard
    versions: list[DemoVersion] = field(default_factory=list)


def _card(summary: str, use: str, limits: str, bias: str | None = None) -> ModelCard:
    return ModelCard(
        summary=summary,
        intended_use=use,
        limitations=limits,
        training_data_summary="See the training datasets listed on each version.",
        evaluation="Held-out validation split, metrics as recorded.",
        bias_assessment=bias,
        warnings=None if bias else "No bias assessment recorded yet.",
    )


def _series(
    metric: str,
    values: list[float],
    stages: list[Stage],
    dataset: str,
    params: dict[str, str],
    note: str,
    warm_start: str | None = None,
) -> list[DemoVersion]:
    """Versions 1..n of a model; ``warm_start`` (the model's URI): each retrain
    starts from the version before it, which it records as its parent."""
    return [
        DemoVersion(
            semver=f"1.{i}.0",
            stage=stage,
            metrics={metric: value, "latency_p95_ms": round(18 + 3.5 * i, 1)},
            params={**params, "seed": str(40 + i)},
            dataset=f"{dataset}/2026-{i + 1:02d}/",
            description=f"{note} (retrain {i + 1})",
            parent=f"{warm_start}/{i}" if warm_start and i else None,
            deployed=100.0 if stage is Stage.PRODUCTION else (10.0 if stage is Stage.STAGING else None),
        )
        for i, (value, stage) in enumerate(zip(values, stages, strict=True))
    ]


A, D, S, P = Stage.ARCHIVED, Stage.DRAFT, Stage.STAGING, Stage.PRODUCTION

DEMO_MODELS: list[DemoModel] = [
    DemoModel(
        "platform",
        "fraud-detector",
        "Scores card transactions for fraud in real time.",
        "xgboost",
        "classification",
        _card(
            "Gradient-boosted trees over transaction features.",
            "Real-time scoring of card-not-present transactions.",
            "Not calibrated for merchant categories absent from training data.",
            "Checked for disparate false-positive rates across regions (within 2%).",
        ),
        _series(
            "auc",
            [0.871, 0.884, 0.893, 0.902, 0.914, 0.921],
            [A, A, A, A, P, S],
            "s3://acme-data/fraud/transactions",
            {"max_depth": "8", "eta": "0.1", "n_estimators": "600"},
            "Weekly retrain on the latest labelled transactions",
            warm_start="mg://platform/fraud-detector",
        ),
    ),
    DemoModel(
        "platform",
        "churn-predictor",
        "Predicts which subscribers will cancel within 30 days.",
        "lightgbm",
        "classification",
        _card(
            "LightGBM over account activity.",
            "Prioritising retention outreach.",
            "Weak on accounts younger than 14 days.",
        ),
        _series(
            "auc",
            [0.78, 0.792, 0.805, 0.811],
            [A, A, P, D],
            "s3://acme-data/crm/churn",
            {"num_leaves": "63", "learning_rate": "0.05"},
            "Monthly retrain",
        ),
    ),
    DemoModel(
        "platform",
        "demand-forecast",
        "Daily demand per warehouse and product family.",
        "prophet",
        "forecasting",
        _card(
            "Additive time-series model with holiday effects.",
            "Inventory planning two to six weeks ahead.",
            "Does not model promotions it has not seen.",
        ),
        _series(
            "mape",
            [0.142, 0.131, 0.127, 0.119, 0.117],
            [A, A, A, P, S],
            "gs://acme-data/supply/demand",
            {"changepoint_prior_scale": "0.05", "seasonality_mode": "multiplicative"},
            "Retrain after the quarterly data refresh",
        ),
    ),
    DemoModel(
        "platform",
        "text-embedder",
        "Sentence embeddings for search and deduplication.",
        "pytorch",
        "embedding",
        _card(
            "Distilled transformer, 384 dimensions.",
            "Semantic search over support tickets and docs.",
            "English only; long documents are truncated at 256 tokens.",
        ),
        _series(
            "ndcg_at_10",
            [0.61, 0.655, 0.672],
            [A, P, S],
            "s3://acme-data/search/pairs",
            {"epochs": "3", "batch_size": "256"},
            "Contrastive fine-tune",
        ),
    ),
    DemoModel(
        "research",
        "llm-summarizer-base",
        "Base summarisation model for internal documents.",
        "transformers",
        "summarization",
        _card(
            "Encoder-decoder transformer pre-trained on public text.",
            "Starting point for domain fine-tunes; not for direct use.",
            "Hallucinates numbers in long financial documents.",
        ),
        _series(
            "rouge_l",
            [0.382, 0.401],
            [A, P],
            "s3://acme-data/nlp/summaries-public",
            {"epochs": "2", "lr": "3e-5"},
            "Pre-training checkpoint",
        ),
    ),
    DemoModel(
        "research",
        "llm-summarizer-support",
        "Summarises customer-support conversations for agents.",
        "transformers",
        "summarization",
        _card(
            "Fine-tune of llm-summarizer-base on support conversations.",
            "Draft summaries shown to agents, who edit before saving.",
            "Tone can be terse; not reviewed for legal correspondence.",
            "Evaluated on conversations from five regions; no significant gap found.",
        ),
        [
            DemoVersion(
                semver=f"0.{i + 1}.0",
                stage=stage,
                metrics={"rouge_l": value, "human_pref": round(0.55 + 0.05 * i, 2)},
                params={"epochs": "3", "lr": "1e-5", "lora_rank": str(8 * (i + 1))},
                dataset=f"s3://acme-data/support/conversations/2026-{i + 7:02d}/",
                description=f"LoRA fine-tune round {i + 1}",
                parent="mg://research/llm-summarizer-base/2",
                deployed=100.0 if stage is P else None,
            )
            for i, (value, stage) in enumerate(zip([0.433, 0.451, 0.462], [A, P, S], strict=True))
        ],
    ),
    DemoModel(
        "research",
        "image-classifier",
        "Classifies product photos into 240 catalogue categories.",
        "pytorch",
        "classification",
        _card(
            "ResNet-50 fine-tuned on catalogue photos.",
            "Suggesting categories to merchants at upload time.",
            "Confuses visually similar apparel categories.",
        ),
        _series(
            "top1_accuracy",
            [0.842, 0.861, 0.874, 0.88],
            [A, A, P, D],
            "s3://acme-data/catalogue/photos",
            {"epochs": "30", "optimizer": "adamw"},
            "Fine-tune with new catalogue photos",
        ),
    ),
    DemoModel(
        "research",
        "recsys-ranker",
        "Ranks candidate products for the home page.",
        "tensorflow",
        "ranking",
        _card(
            "Two-tower retrieval with a DCN ranker.",
            "Home-page recommendations for signed-in users.",
            "Cold-start users fall back to popularity ranking.",
        ),
        _series(
            "ndcg_at_10",
            [0.412, 0.428, 0.433, 0.447],
            [A, P, S, D],
            "s3a://acme-data/recsys/interactions",
            {"embedding_dim": "128", "batch_size": "4096"},
            "Daily incremental retrain",
        ),
    ),
]


def _digest(uri: str) -> str:
    """A stable stand-in for the SHA-256 of a demo dataset's snapshot."""
    return "sha256:" + hashlib.sha256(uri.encode()).hexdigest()


def _version(model: DemoModel, v: DemoVersion, number: int) -> ModelVersion:
    return ModelVersion(
        registry_id=model.registry,
        model_name=model.name,
        version="0",
        semver=v.semver,
        description=v.description,
        artifact_uri=f"s3://acme-models/{model.registry}/{model.name}/{v.semver}/model.tar.gz",
        training_code=CodeRef("https://git.acme.example/ml/" + model.name, f"{number:02d}c0ffee{number}"),
        environment=f"registry.acme.example/ml/{model.framework}-runtime:2026.{number}",
        training_data=(
            DatasetRef(v.dataset, name=f"{model.name}-train", digest=_digest(v.dataset), role="training"),
            DatasetRef(
                holdout := v.dataset.rstrip("/") + "-holdout/",
                name=f"{model.name}-holdout",
                digest=_digest(holdout),
                role="validation",
            ),
        ),
        hyperparameters=v.params,
        metrics=v.metrics,
        parent=v.parent,
        preprocessing=f"pipelines/{model.name}/features.py",
        deployments=(
            (Deployment(f"https://serving.acme.example/{model.name}", v.deployed),) if v.deployed else ()
        ),
        model_card=model.card,
        tags={"framework": model.framework, "task": model.task},
    )


async def seed_demo(gateway: Gateway) -> int:
    """Register the demo models into empty native registries; returns versions added."""
    added = 0
    for model in DEMO_MODELS:
        adapter = gateway.adapters.get(model.registry)
        if not isinstance(adapter, VersionRegistrar):
            continue
        if await gateway.adapters[model.registry].get_model(model.name) is not None:
            continue
        for number, demo in enumerate(model.versions, start=1):
            version = await adapter.register_version(
                RegistrationRequest(model.name, _version(model, demo, number), "demo", model.description)
            )
            if demo.stage is not Stage.DRAFT:
                seeded = PromotionContext("demo")  # no promotion request behind it
                await gateway.adapters[model.registry].set_stage(version, demo.stage, seeded)
            added += 1
        await gateway.sync.refresh_model(model.registry, model.name)
    return added
