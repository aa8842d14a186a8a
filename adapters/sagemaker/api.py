"""boto3 calls as modelgate sees them: off the event loop, with our retry policy,
and every botocore failure turned into a ``gateway.errors`` value that names the
registry.

botocore's own retries are switched off (``total_max_attempts=1``): two retry
loops stacked on each other would multiply attempts and break the deadline.
Reads are retried by ``retry_read`` (throttling, 5xx, connection errors);
writes are sent once. Response bodies are read no further than the registry's
``max_response_bytes``, as every HTTP adapter's are (``CappedHttpSession``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from adapters.sagemaker.options import SageMakerOptions, static_keys
from adapters.toolkit.blocking import run_blocking
from adapters.toolkit.errors import error_for_status
from adapters.toolkit.http import ResponseTooLarge, current_response_cap
from adapters.toolkit.retry import RetryPolicy, retry_read
from gateway.config import ConfigError
from gateway.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryForbidden,
    RegistryRejected,
    RegistryUnavailable,
)

THROTTLING = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)
TRANSIENT = frozenset({"InternalFailure", "InternalServerError", "ServiceUnavailable", "RequestTimeout"})
AUTH = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "AuthFailure",
    }
)
FORBIDDEN = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "NotAuthorized"})
# SageMaker reports a missing group or package as ValidationException ("... does
# not exist" / "not found"); newer APIs use ResourceNotFound.
MISSING = frozenset({"ValidationException", "ResourceNotFound", "ResourceNotFoundException"})
UNSUPPORTED = frozenset(
    {"UnknownOperationException", "InvalidAction", "NotImplemented", "UnsupportedOperation"}
)


class OperationUnsupported(RegistryRejected):
    """The endpoint does not implement the operation (e.g. moto and the lineage API)."""

    code = "REGISTRY_UNSUPPORTED"


def _client_error_parts(exc: Exception) -> tuple[str, str, int | None]:
    response: dict[str, Any] = getattr(exc, "response", {}) or {}
    error = response.get("Error") or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return str(error.get("Code") or ""), str(error.get("Message") or ""), status


def is_unsupported(exc: Exception, *, optional_operation: bool) -> bool:
    """Whether an error means "this endpoint lacks the operation".

    AWS answers an unknown action with a coded error. moto answers an
    unimplemented one with HTTP 500 and an HTML page, which botocore reports
    with the status as the code; a real AWS 500 always carries a JSON error
    code. That second reading is only applied to operations the adapter can do
    without (``optional_operation``), where a false positive costs some lineage
    edges, not correctness.
    """
    code, _, status = _client_error_parts(exc)
    if code in UNSUPPORTED or status == 501:
        return True
    return optional_operation and status == 500 and code in ("500", "")


def translate(
    registry_id: str, operation: str, exc: Exception, *, optional_operation: bool = False
) -> Exception:
    """A botocore/boto3 exception as a RegistryError naming the registry and the call."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        code, message, status = _client_error_parts(exc)
        text = f"{operation} failed: {code}: {message}".strip()
        if is_unsupported(exc, optional_operation=optional_operation):
            return OperationUnsupported(
                registry_id, f"{operation} is not supported by this endpoint", status=status
            )
        # AWS says what went wrong in its error code more than in the status (a
        # throttled call is a 400): the code picks the kind where it is telling,
        # the shared taxonomy (adapters.base.error_for_status) the rest.
        registry_code = code or None
        extra = {"registryCode": code} if code else {}
        if code in THROTTLING or status == 429:
            return RegistryUnavailable(registry_id, f"{operation} throttled ({code})", status=status, **extra)
        if code in TRANSIENT or (status is not None and status >= 500):
            return RegistryUnavailable(registry_id, text, status=status, **extra)
        if code in AUTH:
            return RegistryAuthError(registry_id, text, status=status, **extra)
        if code in FORBIDDEN:
            return RegistryForbidden(registry_id, text, status=status, **extra)
        # awsCode: this adapter's key before the shared taxonomy, kept for clients that read it.
        return error_for_status(registry_id, status or 400, text, registry_code=registry_code, awsCode=code)
    if isinstance(exc, bx.ParamValidationError):
        return RegistryRejected(registry_id, f"{operation}: invalid parameters: {exc}")
    if isinstance(exc, ConfigError):  # credentials_file unreadable since the config was checked
        return RegistryAuthError(registry_id, str(exc))
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.ProfileNotFound):
        return RegistryAuthError(registry_id, str(exc))
    if isinstance(exc, bx.TokenRetrievalError | bx.SSOError | bx.CredentialRetrievalError):
        return RegistryAuthError(registry_id, str(exc))
    if isinstance(exc, bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return RegistryUnavailable(registry_id, f"{operation} timed out ({type(exc).__name__})")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectionError | bx.HTTPClientError):
        return RegistryUnavailable(registry_id, f"{operation}: unreachable ({exc})")
    return exc


def is_missing(exc: RegistryError) -> bool:
    return isinstance(exc, RegistryRejected) and exc.extensions.get("awsCode") in MISSING


def make_client(options: SageMakerOptions, service: str = "sagemaker") -> Any:
    """A SageMaker (or, for endpoint metrics, CloudWatch) client on the standard
    AWS credential chain (environment, profile, SSO, container/instance roles),
    or on the static keys of ``credentials_file`` alone. Builds no connection yet."""
    import boto3
    from botocore.config import Config

    if options.credentials_file is not None:
        session = boto3.session.Session(region_name=options.region, **static_keys(options))
    else:
        session = boto3.session.Session(profile_name=options.profile, region_name=options.region)
    return session.client(
        service,
        endpoint_url=options.endpoint_url,
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=min(options.timeout_seconds, 5.0),
            read_timeout=options.timeout_seconds,
            max_pool_connections=max(options.max_concurrency, 10),
            user_agent_extra="modelgate",
        ),
    )


class CappedHttpSession:
    """botocore's HTTP session with a cap on each response body: botocore reads a
    whole body into memory before parsing it, so the session streams it instead and
    stops past ``max_bytes`` (a misconfigured ``endpoint_url`` or a proxy's error
    page must not fill the gateway's memory). Streaming operations are left as they
    are: their caller reads them."""

    def __init__(self, inner: Any, registry_id: str, max_bytes: int):
        self.inner = inner
        self.registry_id = registry_id
        self.max_bytes = max_bytes

    def send(self, request: Any) -> Any:
        if request.stream_output:
            return self.inner.send(request)
        request.stream_output = True
        response = self.inner.send(request)
        body = bytearray()
        for chunk in response.raw.stream(64 * 1024, decode_content=False):
            body += chunk
            if len(body) > self.max_bytes:
                response.raw.close()
                raise ResponseTooLarge(
                    self.registry_id,
                    f"answered {request.method} with more than {self.max_bytes} bytes "
                    "(max_response_bytes); reading stopped there",
                    status=response.status_code,
                )
        response._content = bytes(body)
        return response

    def __getattr__(self, name: str) -> Any:  # close() and the rest: the real session's
        return getattr(self.inner, name)


def cap_responses(client: Any, registry_id: str, max_bytes: int) -> Any:
    """``client`` (boto3) with its response bodies capped at ``max_bytes``."""
    endpoint = getattr(client, "_endpoint", None)
    if endpoint is not None and not isinstance(endpoint.http_session, CappedHttpSession):
        endpoint.http_session = CappedHttpSession(endpoint.http_session, registry_id, max_bytes)
    return client


class SageMakerApi:
    """Every SageMaker call the adapter makes goes through here."""

    def __init__(
        self,
        registry_id: str,
        options: SageMakerOptions,
        client: Any | None = None,
        *,
        service: str = "sagemaker",
    ):
        self.registry_id = registry_id
        self._options = options
        self._client = client
        self._service = service
        self._max_bytes = current_response_cap()  # set by create_adapter for this registry
        self._lock = threading.Lock()
        # JsonHttpClient's convention: the whole retried read gets twice one call's timeout.
        self.retry = RetryPolicy(attempts=options.max_attempts, deadline_seconds=options.timeout_seconds * 2)

    def _get_client(self) -> Any:
        # Built lazily in a worker thread: creating a boto3 client reads config
        # files and the service model (tens of ms), which must not block the loop.
        with self._lock:
            if self._client is None:
                self._client = make_client(self._options, self._service)
            return cap_responses(self._client, self.registry_id, self._max_bytes)

    def _call_blocking(
        self, operation: str, params: dict[str, Any], optional_operation: bool
    ) -> dict[str, Any]:
        try:
            method: Callable[..., dict[str, Any]] = getattr(self._get_client(), operation)
            response = method(**params)
        except Exception as exc:
            translated = translate(
                self.registry_id, _op_name(operation), exc, optional_operation=optional_operation
            )
            if translated is exc:
                raise
            raise translated from exc
        response.pop("ResponseMetadata", None)
        return response

    async def read(
        self, operation: str, *, optional_operation: bool = False, **params: Any
    ) -> dict[str, Any]:
        """An idempotent read (boto3 method name, e.g. ``describe_model_package``), retried."""
        return await retry_read(
            lambda: run_blocking(self._call_blocking, operation, params, optional_operation), self.retry
        )

    async def read_or_none(self, operation: str, **params: Any) -> dict[str, Any] | None:
        """A read whose "does not exist" answer is None rather than an error."""
        try:
            return await self.read(operation, **params)
        except RegistryRejected as exc:
            if is_missing(exc):
                return None
            raise

    async def read_once(self, operation: str, **params: Any) -> dict[str, Any]:
        """A read without retries (health probes must answer fast)."""
        return await run_blocking(self._call_blocking, operation, params, False)

    async def write(self, operation: str, **params: Any) -> dict[str, Any]:
        """A write, sent once: after a timeout or 5xx it may or may not have applied."""
        try:
            return await run_blocking(self._call_blocking, operation, params, False)
        except RegistryUnavailable as exc:
            raise RegistryUnavailable(
                self.registry_id,
                f"{exc.message.removeprefix(f'registry {self.registry_id}: ')}; the write may or may "
                "not have been applied, re-read before trying again",
                status=exc.status,
            ) from exc


def paging(token: str | None) -> dict[str, Any]:
    """The NextToken parameter, present only when there is a token (SageMaker
    rejects an empty one)."""
    return {"NextToken": token} if token else {}


def _op_name(method: str) -> str:
    """``describe_model_package`` -> ``DescribeModelPackage`` (the name in AWS errors and IAM)."""
    return "".join(part.capitalize() for part in method.split("_"))
