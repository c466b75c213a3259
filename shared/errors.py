"""The error vocabulary of API.md: one exception per stable code, one JSON shape for all."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500
    code = "internal"
    message = "Something went wrong on our side."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.details = details or []
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(ApiError):
    status, code, message = 400, "bad_request", "The request is malformed."


class Unauthorized(ApiError):
    status, code, message = 401, "unauthorized", "Authentication is required."


class InvalidCredentials(ApiError):
    status, code, message = 401, "invalid_credentials", "Email or password is incorrect."


class Forbidden(ApiError):
    status, code, message = 403, "forbidden", "You are not allowed to do this."


class AccountSuspended(ApiError):
    status, code, message = 403, "account_suspended", "This account is suspended."


class NotFound(ApiError):
    status, code, message = 404, "not_found", "No such resource."


class MethodNotAllowed(ApiError):
    status, code, message = 405, "method_not_allowed", "This method is not served here."


class Conflict(ApiError):
    status, code, message = 409, "conflict", "The request conflicts with the current state."


class PayloadTooLarge(ApiError):
    status, code, message = 413, "payload_too_large", "The request body is too large."


class ValidationFailed(ApiError):
    status, code, message = 422, "validation_error", "The request body is invalid."


class RateLimited(ApiError):
    status, code, message = 429, "rate_limited", "Too many requests; try again later."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})
        self.retry_after = retry_after


class AccountLocked(RateLimited):
    code, message = "account_locked", "Too many failed logins; the account is locked for a while."


class ServiceUnavailable(ApiError):
    status, code, message = 503, "unavailable", "A dependency is unavailable."


class Contention(ServiceUnavailable):
    """A transaction that lost its race after every retry: a state conflict (409), not an outage.
    A ServiceUnavailable subclass so that retry loops written for contention still catch it."""

    status, code, message = 409, "conflict", "The resource changed concurrently; read it again and retry."
