"""The schema's helpers called directly: error formatting, the DateTime scalar, the
search filter input, the context's loaders and the domain-to-GraphQL views
(``gateway.api.errors``, ``input_values``, ``filters``, ``context``,
``endpoint_types`` and ``types.catalogue``/``governance``/``lineage``/``serving``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from graphql import GraphQLError, parse, validate

from gateway.api.context import Context
from gateway.api.endpoint_types import EndpointType
from gateway.api.errors import INTERNAL_MESSAGE, format_error
from gateway.api.filters import SearchFilter, TagInput
from gateway.api.input_values import ArgumentValuesRule, parse_datetime
from gateway.api.schema import schema
from gateway.api.types.catalogue import ModelVersionType
from gateway.api.types.governance import review_view, risk_tier_view
from gateway.api.types.lineage import LineageGraph
from gateway.api.types.serving import Deployment
from gateway.auth.principal import LOCAL_OPERATOR, Principal
from gateway.domain import Deployment as DomainDeployment
from gateway.domain import Endpoint, LineageNode, ModelVersion, Relation, Review, Stage, TrafficShare
from gateway.errors import NotFound
from gateway.governance.tier_store import AssignedTier, Override
from gateway.lineage.graph import Edge, Graph
from gateway.runtime import Gateway

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_gateway_error_keeps_its_code_and_an_internal_one_is_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    absent = format_error(GraphQLError("x", path=["model"], original_error=NotFound("no model m")), "rid")
    assert absent == {
        "message": "no model m",
        "path": ["model"],
        "extensions": {"code": "NOT_FOUND", "requestId": "rid"},
    }
    with caplog.at_level(logging.ERROR, logger="modelgate.api"):
        internal = format_error(GraphQLError("secret detail", original_error=KeyError("db password")), "rid")
    assert internal == {
        "message": INTERNAL_MESSAGE,
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "rid"},
    }
    assert "rid" in caplog.text  # logged for the operator, with the request id


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("Syntax Error: Unexpected", "GRAPHQL_PARSE_FAILED"),
        ("Variable '$x' got invalid value 3", "BAD_USER_INPUT"),
        ("Cannot query field 'nope'", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
def test_graphql_cores_own_errors_get_a_code(message: str, code: str) -> None:
    assert format_error(GraphQLError(message), "rid")["extensions"]["code"] == code


def test_datetime_needs_a_zone() -> None:
    assert parse_datetime("2026-03-01T12:00:00Z") == AT
    for bad in ("2026-03-01T12:00:00", "yesterday", 1700000000):
        with pytest.raises(GraphQLError) as refused:
            parse_datetime(bad)
        assert refused.value.extensions == {"code": "BAD_USER_INPUT"}


def test_a_refused_literal_names_its_argument() -> None:
    document = parse('{ versions(asOf: "2026-03-01T12:00:00") { totalCount } }')
    (error,) = validate(schema._schema, document, [ArgumentValuesRule])
    assert error.extensions == {"code": "BAD_USER_INPUT", "field": "asOf"}


def test_the_search_filter_becomes_the_index_filter() -> None:
    index = SearchFilter(
        registries=["prod"],
        stages=[Stage.PRODUCTION],
        tags=[TagInput(key="team", value="x")],
        frameworks=["SKLearn"],
        serving=True,
    ).to_index()
    assert (index.registries, index.stages, index.tags, index.frameworks) == (
        ("prod",),
        (Stage.PRODUCTION,),
        (("team", "x"),),
        ("sklearn",),
    )
    assert index.serving is True and index.compliant is None and SearchFilter().to_index().teams == ()


def test_views_carry_the_domain_fields() -> None:
    endpoint = EndpointType.from_domain(
        Endpoint(
            "arn:e/fraud",
            "fraud",
            "sm",
            "InService",
            (TrafficShare(90, "mg://sm/m/1", "blue"), TrafficShare(10)),
        )
    )
    assert [(t.variant, t.percent, t.version_uri) for t in endpoint.traffic] == [
        ("blue", 90, "mg://sm/m/1"),
        (None, 10, None),
    ]
    version = ModelVersionType.from_domain(
        ModelVersion(
            "r",
            "m",
            "3",
            stage=Stage.STAGING,
            tags={"a": "1"},
            deployments=(DomainDeployment("kserve/m", 25.0, AT, "r", "canary"),),
        )
    )
    assert (version.uri, version.stage, version.version) == ("mg://r/m/3", Stage.STAGING, "3")
    (deployed,) = version.deployments
    assert isinstance(deployed, Deployment) and (
        deployed.endpoint,
        deployed.traffic_percent,
        deployed.variant,
    ) == ("kserve/m", 25.0, "canary")
    overridden = risk_tier_view(
        AssignedTier("high", "OVERRIDE", Override("mg://r/m", "high", "handles PII", "lee", AT))
    )
    assert (overridden.tier, overridden.source, overridden.reason, overridden.set_by) == (
        "high",
        "OVERRIDE",
        "handles PII",
        "lee",
    )
    assert risk_tier_view(AssignedTier(None, "RULE")).reason is None
    assert review_view(Review("ann", "looks fine", AT, "APPROVED")).outcome == "APPROVED"


def test_the_lineage_view_keeps_nodes_edges_and_truncation() -> None:
    graph = Graph(truncated=True)
    graph.add(
        [
            Edge(
                LineageNode("mg://r/m/2", "model_version"),
                LineageNode("s3://d", "dataset"),
                Relation.TRAINED_ON,
                "tag:data",
            )
        ]
    )
    view = LineageGraph.from_graph(graph)
    assert {n.uri for n in view.nodes} == {"mg://r/m/2", "s3://d"} and view.truncated is True
    (edge,) = view.edges
    assert (edge.source, edge.target, edge.relation, edge.evidence) == (
        "mg://r/m/2",
        "s3://d",
        "TRAINED_ON",
        "tag:data",
    )


async def test_the_context_loads_what_its_principal_may_see(demo_gateway: Gateway) -> None:
    operator = Context(demo_gateway, "rid", LOCAL_OPERATOR)
    found = await operator.versions.load("mg://platform/fraud-detector/5")
    assert found is not None and found.stage is Stage.PRODUCTION
    assert await operator.versions.load("mg://platform/fraud-detector/999") is None
    assert (await operator.models.load("mg://platform/fraud-detector")) is not None
    stats = await operator.registry_stats()
    assert stats["platform"].versions >= 6
    assert Context(demo_gateway, "rid", Principal("eve")).visibility is not None
