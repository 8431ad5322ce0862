"""Every other /api path: authenticate, then forward to the service that owns the path."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tremplin_shared.problems import NotFound

from ..auth import Caller
from ..proxy import route_for

router = APIRouter()

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.api_route("/api/{path:path}", methods=METHODS, include_in_schema=False)
async def forward(request: Request, caller: Caller) -> Response:
    service = route_for(request.url.path)
    if service is None:
        raise NotFound("No API at this path.")
    return await request.app.state.proxy.forward(request, service, caller)
