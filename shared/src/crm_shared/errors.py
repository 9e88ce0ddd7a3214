"""RFC 9457 problem+json errors: every 4xx names its cause, never a bare 500 for bad input."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from crm_shared.fields import input_error
from crm_shared.transient import is_transient

PROBLEM_JSON = "application/problem+json"

log = logging.getLogger(__name__)


class Problem(Exception):
    """An error the API reports as problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.headers = headers
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors
        self.extra = extra


class NotFound(Problem):
    """404 for a resource that does not exist (or is not visible to the caller)."""

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(404, f"{what} {ident} not found")


class Conflict(Problem):
    """409: the request conflicts with the resource's state."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(409, detail, **extra)


class Unprocessable(Problem):
    """422 naming the field that is wrong (``code``: a stable name of the rule, for
    clients that word the message themselves)."""

    def __init__(self, field: str, message: str, *, code: str | None = None) -> None:
        error = {"field": field, "message": message}
        extra: dict[str, Any] = {}
        if code:
            error["type"] = code
            extra["code"] = code
        super().__init__(
            422, f"{field}: {message}", title="Validation failed", errors=[error], **extra
        )


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: tuple[int | str, ...]) -> str:
    """``("body", "address", "zip")`` → ``address.zip``: only the first part is where."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


# PostgreSQL refuses NUL in any text (22021 character_not_in_repertoire; 22P05
# untranslatable_character): what the request carried, not a failure of the service
_UNSTORABLE_STATES = ("22021", "22P05")


def _unstorable_character(exc: BaseException) -> bool:
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, sa_exc.DBAPIError) and state in _UNSTORABLE_STATES


def install_problem_handlers(app: FastAPI) -> None:
    """Render Problem, HTTP and validation errors (and crashes) as problem+json."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.detail,
            title=exc.title,
            errors=exc.errors,
            headers=exc.headers,
            **exc.extra,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # "type" is pydantic's error kind (missing, string_too_long, ...): what a client
        # needs to say the message in its own words and language
        errors = []
        for e in exc.errors():
            kind, message = input_error(e)
            errors.append(
                {"field": _field_name(tuple(e.get("loc", ()))), "message": message, "type": kind}
            )
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(422, detail, title="Validation failed", errors=errors)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        if _unstorable_character(exc):  # a NUL in an id or a filter no type checked
            message = "a value holds a character no text may hold (NUL, U+0000)"
            return problem_response(
                422,
                f"{message}; nothing was saved",
                title="Validation failed",
                # which value is not known here: the request as a whole
                errors=[{"field": "request", "message": message, "type": "control_character"}],
            )
        if is_transient(exc):  # the database or Redis is away for a moment: try again
            log.warning("%s %s: a store is unreachable (%r)", request.method, request.url.path, exc)
            return problem_response(
                503,
                "a store of the service is unreachable; nothing was saved, try again",
                headers={"Retry-After": "2"},
            )
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "internal error; the change was not saved")
