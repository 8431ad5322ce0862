"""Request ids and access logs (pure ASGI, so streaming responses are not buffered)."""

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .log import new_request_id, request_id_var

REQUEST_ID_HEADER = "x-request-id"
log = logging.getLogger("tremplin.access")

# A caller's request id is kept when it looks like one (a uuid, a trace id…); anything else — free
# text, a name, spaces, quotes — is replaced: it goes into every log line and event header.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# A path segment with six digits in a row may be a NIR, a SIRET, a phone number, an IBAN; one with an
# @ an e-mail address (sent where an id was expected): logs and the audit keep the route, not them.
_IDENTIFYING_SEGMENT_RE = re.compile(r"[0-9]{6}|@|%40")
REDACTED_SEGMENT = "{redacted}"


def accepted_request_id(incoming: str) -> str:
    """The caller's X-Request-ID if it looks like an id, else a new one."""
    return incoming if _REQUEST_ID_RE.fullmatch(incoming) else new_request_id()


def _is_uuid(segment: str) -> bool:
    try:
        uuid.UUID(segment)
    except ValueError:
        return False
    return True


def path_for_logs(path: str) -> str:
    """`path` as logs and the audit keep it: ids (uuids) stay — they say which file was read — but a
    segment that could be personal data itself (a NIR, an e-mail address…) is `{redacted}`."""
    segments = path.split("/")
    if not any(_IDENTIFYING_SEGMENT_RE.search(s) for s in segments):
        return path
    return "/".join(REDACTED_SEGMENT if _IDENTIFYING_SEGMENT_RE.search(s) and not _is_uuid(s) else s for s in segments)


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        incoming = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = accepted_request_id(incoming)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID_HEADER.encode(), request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["path"] not in ("/healthz", "/readyz", "/metrics"):
                log.info(
                    "request",
                    extra={
                        "fields": {
                            "method": scope["method"],
                            "path": path_for_logs(scope["path"]),
                            "status": status,
                            "ms": round((time.perf_counter() - started) * 1000, 1),
                        }
                    },
                )
            request_id_var.reset(token)
