"""One error taxonomy for every adapter: the same registry answer (401, 403, 404,
429, 5xx, another 4xx, a timeout) becomes the same ``RegistryError`` kind with the
same extension keys (``registry``, ``registryCode``, ``retryAfterSeconds``),
whichever adapter translated it. Each row is the registry's own error body for
that status (MLflow's ``{error_code, message}``, Google's ``{error: {code,
status, message}}``, AWS's ``Error.Code``), fed to the adapter's translator; no
server produces these on cue."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from adapters.base import JsonHttpClient, RetryPolicy
from adapters.mlflow.mapping import translate_error
from adapters.unity_catalog.api import error_translator as unity_catalog_translator
from adapters.vertex.api import error_translator
from gateway.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryForbidden,
    RegistryNotFound,
    RegistryRejected,
    RegistryUnavailable,
)

REGISTRY = "reg-1"
# status -> (the kind every adapter must produce, MLflow's code, Google's status, AWS's code,
# Unity Catalog's error_code: the OSS server's ErrorCode.java; it has no 503, Databricks' code is used;
# the Hugging Face Hub's X-Error-Code)
_CODES: dict[int, tuple[type[RegistryError], str, str, str, str, str]] = {
    400: (
        RegistryRejected,
        "INVALID_PARAMETER_VALUE",
        "INVALID_ARGUMENT",
        "ValidationException",
        "INVALID_ARGUMENT",
        "BadRequest",
    ),
    401: (
        RegistryAuthError,
        "UNAUTHENTICATED",
        "UNAUTHENTICATED",
        "UnrecognizedClientException",
        "UNAUTHENTICATED",
        "Unauthorized",
    ),
    403: (
        RegistryForbidden,
        "PERMISSION_DENIED",
        "PERMISSION_DENIED",
        "AccessDeniedException",
        "PERMISSION_DENIED",
        "GatedRepo",
    ),
    404: (
        RegistryNotFound,
        "RESOURCE_DOES_NOT_EXIST",
        "NOT_FOUND",
        "ResourceNotFound",
        "NOT_FOUND",
        "RepoNotFound",
    ),
    429: (
        RegistryUnavailable,
        "REQUEST_LIMIT_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "ThrottlingException",
        "RESOURCE_EXHAUSTED",
        "RateLimited",
    ),
    500: (RegistryUnavailable, "INTERNAL_ERROR", "INTERNAL", "InternalFailure", "INTERNAL", "InternalError"),
    503: (
        RegistryUnavailable,
        "TEMPORARILY_UNAVAILABLE",
        "UNAVAILABLE",
        "ServiceUnavailable",
        "TEMPORARILY_UNAVAILABLE",
        "Unavailable",
    ),
}
# ... and W&B's: none, its GraphQL errors carry only a message.
TAXONOMY = {status: (*row, None) for status, row in _CODES.items()}


def _request() -> httpx.Request:
    return httpx.Request("GET", "http://registry.test/api/thing")


def mlflow_answer(status: int, headers: dict[str, str]) -> RegistryError:
    body = {"error_code": TAXONOMY[status][1], "message": "no"}
    return translate_error(REGISTRY)(httpx.Response(status, json=body, headers=headers, request=_request()))


def vertex_answer(status: int, headers: dict[str, str]) -> RegistryError:
    body = {"error": {"code": status, "status": TAXONOMY[status][2], "message": "no"}}
    return error_translator(REGISTRY)(httpx.Response(status, json=body, headers=headers, request=_request()))


def sagemaker_answer(status: int, headers: dict[str, str]) -> RegistryError:
    from botocore.exceptions import ClientError

    from adapters.sagemaker.api import translate

    response = {
        "Error": {"Code": TAXONOMY[status][3], "Message": "no"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
    }
    error = translate(REGISTRY, "DescribeModelPackage", ClientError(response, "DescribeModelPackage"))  # type: ignore[arg-type]
    assert isinstance(error, RegistryError)
    return error


def wandb_answer(status: int, headers: dict[str, str]) -> RegistryError:
    from adapters.wandb.api import error_translator as wandb_translator

    body = {"errors": [{"message": "no", "path": ["addAliases"]}]}
    return wandb_translator(REGISTRY)(httpx.Response(status, json=body, headers=headers, request=_request()))


def unity_catalog_answer(status: int, headers: dict[str, str]) -> RegistryError:
    code = TAXONOMY[status][4]
    body = {"error_code": code, "message": "no", "details": [{"reason": code}]}
    response = httpx.Response(status, json=body, headers=headers, request=_request())
    return unity_catalog_translator(REGISTRY)(response)


def huggingface_answer(status: int, headers: dict[str, str]) -> RegistryError:
    from adapters.huggingface.api import error_translator as hub_translator

    headers = {"X-Error-Code": TAXONOMY[status][5], "X-Error-Message": "no", **headers}
    response = httpx.Response(status, json={"error": "no"}, headers=headers, request=_request())
    return hub_translator(REGISTRY)(response)


TRANSLATORS: dict[str, Callable[[int, dict[str, str]], RegistryError]] = {
    "mlflow": mlflow_answer,
    "vertex": vertex_answer,
    "sagemaker": sagemaker_answer,
    "unity_catalog": unity_catalog_answer,
    "huggingface": huggingface_answer,
    "wandb": wandb_answer,
}
CODE_COLUMN = {"mlflow": 1, "vertex": 2, "sagemaker": 3, "unity_catalog": 4, "huggingface": 5, "wandb": 6}


@pytest.mark.parametrize("status", sorted(TAXONOMY))
@pytest.mark.parametrize("adapter", sorted(TRANSLATORS))
def test_every_adapter_maps_a_status_to_the_same_kind_and_keys(adapter: str, status: int) -> None:
    expected = TAXONOMY[status][0]
    error = TRANSLATORS[adapter](status, {})
    assert type(error) is expected, f"{adapter} turned {status} into {type(error).__name__}"
    extensions = error.as_extensions()
    assert extensions["code"] == expected.code
    assert extensions["registry"] == REGISTRY and REGISTRY in error.message
    assert extensions.get("registryCode") == TAXONOMY[status][CODE_COLUMN[adapter]]
    assert error.status == status
    assert error.retryable is (expected is RegistryUnavailable)


@pytest.mark.parametrize("adapter", ["mlflow", "vertex", "unity_catalog", "wandb", "huggingface"])
def test_retry_after_reaches_the_same_key(adapter: str) -> None:
    error = TRANSLATORS[adapter](429, {"Retry-After": "7"})
    assert error.extensions["retryAfterSeconds"] == 7.0


async def test_a_timeout_is_unavailable_for_http_adapters() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    for translate in (
        translate_error(REGISTRY),
        error_translator(REGISTRY),
        unity_catalog_translator(REGISTRY),
    ):
        client = JsonHttpClient(
            REGISTRY,
            "http://registry.test",
            translate,
            retry=RetryPolicy(attempts=1),
            transport=httpx.MockTransport(hang),
        )
        with pytest.raises(RegistryUnavailable) as caught:
            await client.get("/thing")
        await client.aclose()
        assert caught.value.as_extensions()["registry"] == REGISTRY and "timed out" in caught.value.message


def test_a_timeout_is_unavailable_for_sagemaker() -> None:
    from botocore.exceptions import ReadTimeoutError

    from adapters.sagemaker.api import translate

    error = translate(REGISTRY, "ListModelPackages", ReadTimeoutError(endpoint_url="http://sm.test"))
    assert type(error) is RegistryUnavailable and "timed out" in str(error)


def test_the_hub_s_rate_limit_header_is_the_retry_after() -> None:
    """The Hub throttles with IETF draft headers (``RateLimit: "api";r=0;t=<s>``),
    often without ``Retry-After``."""
    headers = {"RateLimit": '"api";r=0;t=42', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}
    error = huggingface_answer(429, headers)
    assert error.extensions["retryAfterSeconds"] == 42.0


def test_the_hub_s_anonymous_repo_not_found_is_not_an_auth_failure() -> None:
    """Anonymous, the Hub answers 401 ``RepoNotFound`` for a missing or private
    repository (as ``hf_raise_for_status`` reads it): a missing model, not bad credentials."""
    error = huggingface_answer(401, {"X-Error-Code": "RepoNotFound"})
    assert type(error) is RegistryNotFound
