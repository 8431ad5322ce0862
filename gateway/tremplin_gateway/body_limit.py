"""Request bodies: at most `max_bytes` (413 problem+json), within `timeout_seconds` (408).

A declared Content-Length over the limit is refused before reading anything. A body without a
length (chunked) is read here, up to the limit and within the time, and replayed to the app; one
byte more is 413, too slow is 408. The proxy reads every body it forwards with `read_body`, under
the same limits, before it takes an upstream connection: a client that sends slowly holds nothing
but its own request.
"""

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tremplin_shared.problems import Problem, problem_for


class BodyTooLarge(Problem):
    status, title = 413, "Content Too Large"


class BodyTooSlow(Problem):
    status, title = 408, "Request Timeout"


class ClientGone(Problem):
    """The client went away before its body was complete (the answer reaches nobody)."""

    status, title = 400, "Bad Request"


async def read_body(receive: Receive, max_bytes: int, timeout_seconds: float) -> bytes:
    """The whole request body; BodyTooLarge beyond `max_bytes`, BodyTooSlow if it takes longer."""
    chunks: list[bytes] = []
    total = 0
    try:
        async with asyncio.timeout(timeout_seconds):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise ClientGone("The client went away before its request body was complete.")
                body = message.get("body", b"")
                total += len(body)
                if total > max_bytes:
                    raise BodyTooLarge(f"The request body is larger than {max_bytes} bytes.")
                chunks.append(body)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise BodyTooSlow(
            f"The request body did not arrive within {timeout_seconds:g} seconds.", headers={"Connection": "close"}
        ) from None
    return b"".join(chunks)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout_seconds: float = 10.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0 or declared > self.max_bytes:
                refusal = BodyTooLarge(f"The request body is larger than {self.max_bytes} bytes.")
                await problem_for(refusal)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive, self.max_bytes, self.timeout_seconds)
        except Problem as exc:
            await problem_for(exc)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
