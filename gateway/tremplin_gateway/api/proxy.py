"""The /api paths that belong to a service: authenticate, authorize, forward.

This is the gateway's hot path, so it is pure ASGI in front of FastAPI's router: every request to a
service would otherwise also pay for the route scan, the dependency solver and the exception and
exit-stack middlewares — as much CPU as the forwarding itself. The outer middlewares (request id,
audit, CORS, body limit) still wrap it. Other /api paths go on to the router: the gateway's own
routes, and `unknown_api`, which answers 401 or 404 as the table says.
"""

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tremplin_shared.problems import NotFound, Problem, problem_for

from ..auth import Caller, authorized
from ..proxy import route_for

router = APIRouter()

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class ServiceProxy:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = route_for(scope["path"]) if scope["type"] == "http" else None
        if service is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            caller = await authorized(request)
            response = await scope["app"].state.proxy.forward(request, service, caller)
        except Problem as exc:
            response = problem_for(exc)
        await response(scope, receive, send)


@router.api_route("/api/{path:path}", methods=METHODS, include_in_schema=False)
async def unknown_api(caller: Caller) -> Response:
    """No service and no gateway route serves this path (after authentication, as for any /api path)."""
    raise NotFound("No API at this path.")
