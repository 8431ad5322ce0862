"""The reverse proxy: which service serves a path, and forwarding a request to it.

The upstream sees the caller only through the signed identity header the gateway adds; a client
cannot forge it because client headers are forwarded from an allow-list that does not contain it
(nor the API key). Responses are streamed back as they come, hop-by-hop headers removed.

A request body is read whole at the gateway (within `GATEWAY_REQUEST_BODY_TIMEOUT_SECONDS`, at
most `GATEWAY_MAX_BODY_BYTES`) before an upstream connection is taken, so a slow client holds no
connection of the pool the four services share. At most `GATEWAY_UPSTREAM_MAX_CONNECTIONS`
requests are with the services at once; one that waits longer than the pool timeout for its turn
is 503 — the gateway's own saturation, which says nothing about the service and so is no failure
for its circuit breaker.
"""

import asyncio
import logging
import math
import time
from http.cookiejar import CookieJar

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse
from httpx_aiohttp import AiohttpTransport
from starlette.background import BackgroundTask
from starlette.types import Receive, Scope, Send

from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity
from tremplin_shared.log import current_request_id
from tremplin_shared.problems import Problem, problem_response

from .body_limit import read_body
from .config import Settings
from .domain.circuit import CircuitBreaker
from .domain.principal import Principal

log = logging.getLogger(__name__)

# Path prefix -> service. A prefix matches itself and everything below it.
ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/v1/participants", "participants"),
    ("/api/v1/parcours", "participants"),
    ("/api/v1/offers", "matching"),
    ("/api/v1/applications", "matching"),
    ("/api/v1/matching", "matching"),
    ("/api/v1/clauses", "clauses"),
    ("/api/v1/funding", "funding"),
)

# Client headers passed on; everything else (Authorization, X-API-Key, cookies, a forged
# X-Tremplin-Identity, X-Request-ID which is re-set below) stays at the gateway.
FORWARDED_REQUEST_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "content-type",
        "content-length",
        "content-encoding",
        "idempotency-key",
        "if-match",
        "if-none-match",
        "traceparent",
        "tracestate",
    }
)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Only methods that never write are retried, and only without a body (a stream is not replayable).
RETRIED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Answers that say "the service, not the request, is the problem": retried, and failures for the breaker.
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})

# The gateway's server adds its own Date, Server and X-Request-ID.
DROPPED_RESPONSE_HEADERS = HOP_BY_HOP | {"date", "server", "x-request-id"}

# Connections of the shared client beyond the proxied requests' `upstream_max_connections`: the
# gateway's own fetches (each service's OpenAPI document, the JWKS) never make a proxied request
# wait in the client's pool, where a wait could not be told from a service that does not answer.
OWN_FETCH_CONNECTIONS = 8


class BadRequest(Problem):
    status, title = 400, "Bad Request"


class UpstreamResponse(StreamingResponse):
    """A service's answer, streamed back as it comes.

    Starlette's StreamingResponse runs a second task per response (under uvicorn) to notice a
    client that goes away; a service's answer is short, and uvicorn drops writes to a closed
    connection, so the body is simply passed on and the upstream connection then released.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.stream_response(send)
        finally:  # also when the client is gone before the answer started: the connection goes back
            if self.background is not None:
                await self.background()


def route_for(path: str) -> str | None:
    """The service serving `path`, or None. Paths with dot segments are never routed."""
    if any(segment in (".", "..") for segment in path.split("/")):
        return None
    for prefix, service in ROUTES:
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return None


class NoCookies(CookieJar):
    """The jar of the shared upstream client, which keeps nothing.

    A service's Set-Cookie goes back to the caller like any header; kept in the client's jar, it
    would go out with every later request to that service, whoever made it.
    """

    def extract_cookies(self, response, request) -> None:
        pass

    def set_cookie(self, cookie) -> None:
        pass


def upstream_client(settings: Settings) -> httpx.AsyncClient:
    """The one client of the process: pooled connections to every service.

    httpx's API over aiohttp's connection pool (`httpx-aiohttp`, as the OpenAI SDK offers it):
    httpcore's pool scans every pooled connection, with a system call each, on every request, which
    cost the gateway more CPU than all else it does. aiohttp keeps idle connections up to
    `max_connections` for `keepalive_expiry`; of the timeouts it applies connect, read and pool.
    Its wait for a pooled connection ends as a ConnectTimeout, like a service that does not accept
    one: the proxy's own turns (`Proxy.slots`) keep proxied requests from ever waiting there.
    """
    limits = httpx.Limits(
        max_connections=settings.upstream_max_connections + OWN_FETCH_CONNECTIONS,
        keepalive_expiry=settings.upstream_keepalive_expiry_seconds,
    )
    return httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits, trust_env=False),
        timeout=httpx.Timeout(
            connect=settings.upstream_connect_timeout_seconds,
            read=settings.upstream_read_timeout_seconds,
            write=None,  # aiohttp has none; a body is read whole first, never sent at a client's pace
            pool=settings.upstream_pool_timeout_seconds,
        ),
        cookies=NoCookies(),
        follow_redirects=False,
        trust_env=False,  # no HTTP(S)_PROXY from the environment between the gateway and the services
    )


def _connection_tokens(headers: httpx.Headers) -> set[str]:
    """Headers named in `Connection:` are hop-by-hop too (RFC 9110 §7.6.1)."""
    return {t.strip().lower() for value in headers.get_list("connection") for t in value.split(",") if t.strip()}


class Proxy:
    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.upstreams = {name: httpx.URL(url) for name, url in settings.upstreams.items()}
        self.breakers = {
            name: CircuitBreaker(settings.circuit_failure_threshold, settings.circuit_recovery_seconds)
            for name in self.upstreams
        }
        self.timeouts = {
            name: client.timeout if name not in settings.upstream_read_timeouts
            else httpx.Timeout(
                connect=settings.upstream_connect_timeout_seconds,
                read=settings.upstream_read_timeouts[name],
                write=None,
                pool=settings.upstream_pool_timeout_seconds,
            )
            for name in self.upstreams
        }  # fmt: skip
        # Turns to talk to a service: taken before a connection of the pool, given back with it.
        self.slots = asyncio.Semaphore(settings.upstream_max_connections)

    def identity_header(self, caller: Principal, request_id: str | None) -> str:
        identity = Identity(tenant=caller.tenant, subject=caller.subject, roles=caller.roles, request_id=request_id)
        return sign_identity(identity, self.settings.identity_secret)

    def upstream_url(self, service: str, request: Request) -> httpx.URL:
        base = self.upstreams[service]
        # The raw path keeps the client's percent-encoding (%2F stays %2F).
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        raw = base.raw_path.rstrip(b"/") + raw_path
        if query := request.scope.get("query_string"):
            raw += b"?" + query
        return base.copy_with(raw_path=raw)

    def upstream_headers(self, request: Request, caller: Principal) -> list[tuple[str, str]]:
        """The headers the service gets; 400 for a value passed on that is not ASCII (RFC 9110 lets
        a recipient treat such bytes as opaque: the gateway does not guess their encoding)."""
        headers = [(name, value) for name, value in request.headers.items() if name in FORWARDED_REQUEST_HEADERS]
        if "accept-encoding" not in request.headers:
            headers.append(("accept-encoding", "identity"))  # the body is passed through undecoded
        request_id = current_request_id()
        if request_id:
            headers.append(("x-request-id", request_id))
        if request.client:
            forwarded_for = request.headers.get("x-forwarded-for")
            client = request.client.host
            headers.append(("x-forwarded-for", f"{forwarded_for}, {client}" if forwarded_for else client))
        for name, value in headers:
            if not value.isascii():
                raise BadRequest(f"The {name} header is not ASCII.", header=name)
        headers.append((IDENTITY_HEADER, self.identity_header(caller, request_id)))
        return headers

    def response_headers(self, service: str, upstream: httpx.Response) -> list[tuple[bytes, bytes]]:
        dropped = DROPPED_RESPONSE_HEADERS | _connection_tokens(upstream.headers)
        base = str(self.upstreams[service]).rstrip("/")
        headers = []
        for name, value in upstream.headers.multi_items():
            lowered = name.lower()
            if lowered in dropped:
                continue
            if lowered == "location" and value.startswith(base + "/"):
                value = value[len(base) :]  # the service's own address means nothing to the client
            headers.append((lowered.encode("latin-1"), value.encode("latin-1")))
        return headers

    async def forward(self, request: Request, service: str, caller: Principal) -> UpstreamResponse | JSONResponse:
        # All that depends on the client alone first: nothing is taken for a request refused here.
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        content = await self.request_body(request) if has_body else None
        headers = self.upstream_headers(request, caller)
        breaker = self.breakers[service]
        if not breaker.allow(time.monotonic()):
            wait = max(1, math.ceil(breaker.retry_after(time.monotonic())))
            return problem_response(
                503, "Service Unavailable", f"The {service} service is failing; not tried for now.",
                headers={"Retry-After": str(wait)}, service=service, circuit="open",
            )  # fmt: skip
        release = await self._take_slot()
        if release is None:
            breaker.abandon()  # no verdict on the service (a half-open probe is given back)
            return self._busy(service)
        upstream: httpx.Response | None = None
        verdict = False
        try:
            upstream, failure, service_failed = await self._send(request, service, headers, content)
            if upstream is None:
                if service_failed:
                    breaker.failure(time.monotonic())
                    verdict = True
                return failure
            if upstream.status_code in UNAVAILABLE_STATUSES:
                breaker.failure(time.monotonic())
            else:
                breaker.success()
            verdict = True
        finally:
            if not verdict:
                breaker.abandon()
            if upstream is None:
                release()

        response = UpstreamResponse(
            self._body(service, upstream, release), status_code=upstream.status_code,
            background=BackgroundTask(self._close, upstream, release),
        )  # fmt: skip
        response.raw_headers = self.response_headers(service, upstream)
        return response

    async def request_body(self, request: Request) -> bytes:
        """The whole body, before anything upstream: 413 beyond the size limit, 408 too slow."""
        settings = self.settings
        return await read_body(request.receive, settings.max_body_bytes, settings.request_body_timeout_seconds)

    async def _take_slot(self):
        """A turn to talk to a service (its release, to call once done), or None after the pool timeout."""
        if self.slots.locked():
            try:
                async with asyncio.timeout(self.settings.upstream_pool_timeout_seconds):
                    await self.slots.acquire()
            except TimeoutError:
                return None
        else:
            await self.slots.acquire()  # free: no wait
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.slots.release()

        return release

    async def _send(
        self, request: Request, service: str, headers: list[tuple[str, str]], content: bytes | None
    ) -> tuple[httpx.Response | None, JSONResponse | None, bool]:
        """The upstream's answer (retried when that is safe), or the problem to answer instead and
        whether it is a failure of the service (for its breaker)."""
        retried = request.method in RETRIED_METHODS and content is None
        attempts = 1 + (self.settings.upstream_retries if retried else 0)
        failure: JSONResponse | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.settings.upstream_retry_backoff_seconds * 2 ** (attempt - 1))
            upstream_request = self.client.build_request(
                request.method,
                self.upstream_url(service, request),
                headers=headers,
                content=content,
                timeout=self.timeouts[service],
            )
            try:
                upstream = await self.client.send(upstream_request, stream=True)
            except httpx.PoolTimeout:  # the client's own pool is full: the gateway's saturation
                return None, self._busy(service), False
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = self._unavailable(service, f"The {service} service is unavailable.", exc)
                continue  # nothing reached the service: safe to try again
            except httpx.TimeoutException as exc:
                # It may be working on it: trying again would only double the wait.
                return None, self._unavailable(service, f"The {service} service did not answer in time.", exc), True
            except httpx.HTTPError as exc:
                log.warning("upstream error", extra={"fields": {"service": service, "error": repr(exc)}})
                detail = f"The {service} service answered with an invalid response."
                failure = problem_response(502, "Bad Gateway", detail, service=service)
                continue
            if upstream.status_code in UNAVAILABLE_STATUSES and attempt < attempts - 1:
                await upstream.aclose()
                continue
            return upstream, None, False
        return None, failure, True

    @staticmethod
    async def _close(upstream: httpx.Response, release) -> None:
        try:
            await upstream.aclose()
        finally:
            release()

    def _busy(self, service: str) -> JSONResponse:
        log.warning("upstream connections all busy", extra={"fields": {"service": service}})
        detail = "The gateway has too many requests in progress with the services; try again shortly."
        return problem_response(503, "Service Unavailable", detail, headers={"Retry-After": "1"}, service=service)

    @staticmethod
    async def _body(service: str, upstream: httpx.Response, release):
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            # The status line is gone already; aborting the connection is the only honest signal.
            log.warning("upstream failed mid-response", extra={"fields": {"service": service, "error": repr(exc)}})
            raise
        finally:
            # Also when the client goes away mid-response (the background task then does not run):
            # the connection goes back to the pool.
            try:
                await upstream.aclose()
            finally:
                release()

    @staticmethod
    def _unavailable(service: str, detail: str, exc: Exception) -> JSONResponse:
        log.warning("upstream unavailable", extra={"fields": {"service": service, "error": repr(exc)}})
        return problem_response(503, "Service Unavailable", detail, headers={"Retry-After": "1"}, service=service)
