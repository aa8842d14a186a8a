"""MLflow's error vocabulary: ``{"error_code", "message"}`` with MLflow's HTTP status."""

from __future__ import annotations

from gateway.errors import GatewayError

# mlflow.exceptions.ERROR_CODE_TO_HTTP_STATUS, for the codes this API answers.
STATUS_OF = {
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_CONFLICT": 409,
    "RESOURCE_ALREADY_EXISTS": 400,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
    "INTERNAL_ERROR": 500,
}

# A GatewayError code as MLflow names it. A REGISTRY_* failure of a federated
# registry is TEMPORARILY_UNAVAILABLE (503: MLflow's client retries it).
_FROM_GATEWAY = {
    "NOT_FOUND": "RESOURCE_DOES_NOT_EXIST",
    "BAD_USER_INPUT": "INVALID_PARAMETER_VALUE",
    "BAD_REQUEST": "BAD_REQUEST",
    "FORBIDDEN": "PERMISSION_DENIED",
    "UNAUTHENTICATED": "UNAUTHENTICATED",
    "CONFLICT": "RESOURCE_CONFLICT",
}


class MlflowApiError(Exception):
    """An answer in MLflow's error shape."""

    def __init__(self, error_code: str, message: str):
        super().__init__(message)
        self.error_code = error_code
        self.message = message

    @property
    def status(self) -> int:
        return STATUS_OF.get(self.error_code, 500)

    def as_body(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}

    @classmethod
    def of(cls, exc: GatewayError) -> MlflowApiError:
        """The gateway's own error, in MLflow's words (the message is already client-safe)."""
        if exc.code.startswith("REGISTRY_"):
            return cls("TEMPORARILY_UNAVAILABLE", exc.message)
        return cls(_FROM_GATEWAY.get(exc.code, "INTERNAL_ERROR"), exc.message)


def invalid(message: str) -> MlflowApiError:
    return MlflowApiError("INVALID_PARAMETER_VALUE", message)


def absent_model(name: str) -> MlflowApiError:
    """Absent and hidden alike: the message is the same for both."""
    return MlflowApiError("RESOURCE_DOES_NOT_EXIST", f"Registered Model with name={name} not found")


def absent_version(name: str, version: str) -> MlflowApiError:
    return MlflowApiError(
        "RESOURCE_DOES_NOT_EXIST", f"Model Version (name={name}, version={version}) not found"
    )
