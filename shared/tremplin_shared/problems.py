"""RFC 9457 problem+json for every error a component answers."""

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .db import describe_error
from .log import current_request_id

PROBLEM_JSON = "application/problem+json"
# PostgreSQL's character_not_in_repertoire: a text with a NUL (\u0000 in JSON), which PostgreSQL
# cannot store. Bad input wherever it hides, never a 500; the transaction was rolled back.
NUL_IN_TEXT = "22021"
log = logging.getLogger(__name__)


class Problem(Exception):
    """An error with an HTTP status, raised anywhere below the routers."""

    status = 500
    title = "Internal Server Error"

    def __init__(self, detail: str | None = None, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = headers
        self.extra = extra


class Unauthorized(Problem):
    status, title = 401, "Unauthorized"


class Forbidden(Problem):
    status, title = 403, "Forbidden"


class NotFound(Problem):
    status, title = 404, "Not Found"


class Conflict(Problem):
    status, title = 409, "Conflict"


class Unprocessable(Problem):
    status, title = 422, "Unprocessable Content"


class ServiceUnavailable(Problem):
    status, title = 503, "Service Unavailable"


def problem_response(
    status: int, title: str, detail: str | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if rid := current_request_id():
        body["request_id"] = rid
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_for(exc: Problem) -> JSONResponse:
    """The problem+json answer for a raised `Problem` (FastAPI's handler, and pure ASGI code)."""
    return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extra)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_for(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field_path(tuple(e.get("loc", ()))),
                "in": (e.get("loc") or ["body"])[0],
                "message": e.get("msg"),
            }
            for e in exc.errors()
        ]
        return problem_response(422, "Unprocessable Content", "The request is invalid.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "HTTP Error")
        return problem_response(exc.status_code, title, str(exc.detail) if exc.detail else None, headers=exc.headers)

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        if getattr(exc.orig, "sqlstate", None) == NUL_IN_TEXT:
            message = "must not contain a NUL character"
            return problem_response(422, "Unprocessable Content", f"A text of the request {message}.",
                                    errors=[{"field": "-", "in": "body", "message": message}])  # fmt: skip
        # Without the exception's message: the statement's values are hidden (db.make_engine), but the
        # server's detail may quote a row.
        stack = "".join(traceback.format_tb(exc.__traceback__))
        log.error("unhandled database error", extra={"fields": {"error": describe_error(exc), "stack": stack}})
        return problem_response(500, "Internal Server Error", "An unexpected error occurred.")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem_response(500, "Internal Server Error", "An unexpected error occurred.")
