"""Rate limits with the `limits` library: per key (or token subject), and failed authentications
per client address.

Storage: memory by default (one gateway process), Redis when `GATEWAY_REDIS_URL` is set (several
gateway instances share the counters). Sliding window counters: the previous window's count,
weighted by how much of it still overlaps, plus the current one — a burst at a window's edge
cannot double the allowance, at the cost of two counters per key (a moving window keeps one
timestamp per request). If Redis is unreachable the gateway lets requests through and logs it: losing the
limiter must not take the whole platform down.
"""

import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from tremplin_shared.problems import Problem

log = logging.getLogger(__name__)


class TooManyRequests(Problem):
    status, title = 429, "Too Many Requests"


def redis_storage_uri(url: str) -> str:
    """`redis://host:port/db` as the `limits` async Redis URI."""
    return url if url.startswith("async+") else f"async+{url}"


def make_storage(redis_url: str | None, key_prefix: str) -> Storage:
    if not redis_url:
        return MemoryStorage()
    return storage_from_string(
        redis_storage_uri(redis_url), implementation="redispy", key_prefix=key_prefix, wrap_exceptions=True
    )


class RateLimits:
    def __init__(self, storage: Storage, default: str, auth_failures: str) -> None:
        self.storage = storage
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.default = parse(default)
        self.auth_failures = parse(auth_failures)
        self._items: dict[str, RateLimitItem] = {}

    def item(self, limit: str | None) -> RateLimitItem:
        if limit is None:
            return self.default
        if limit not in self._items:
            self._items[limit] = parse(limit)
        return self._items[limit]

    async def hit(self, limit: str | None, *identifiers: str) -> None:
        """Count one request of `identifiers` against `limit` (None: the default); 429 beyond it."""
        item = self.item(limit)
        try:
            if await self.limiter.hit(item, "key", *identifiers):
                return
            stats = await self.limiter.get_window_stats(item, "key", *identifiers)
        except Exception:  # the storage failing: fail open, loudly
            log.warning("rate limit storage unavailable", exc_info=True)
            return
        raise self._limited(item, stats.reset_time, "Too many requests for this API key.")

    async def check_auth_failures(self, address: str) -> None:
        """429 if `address` failed to authenticate too often lately (does not count)."""
        try:
            if await self.limiter.test(self.auth_failures, "auth-failure", address):
                return
            stats = await self.limiter.get_window_stats(self.auth_failures, "auth-failure", address)
        except Exception:
            log.warning("rate limit storage unavailable", exc_info=True)
            return
        raise self._limited(self.auth_failures, stats.reset_time, "Too many failed authentications from here.")

    async def auth_failed(self, address: str) -> None:
        try:
            await self.limiter.hit(self.auth_failures, "auth-failure", address)
        except Exception:
            log.warning("rate limit storage unavailable", exc_info=True)

    @staticmethod
    def _limited(item: RateLimitItem, reset_time: float, detail: str) -> TooManyRequests:
        retry_after = max(1, math.ceil(reset_time - time.time()))
        return TooManyRequests(
            detail, headers={"Retry-After": str(retry_after)}, limit=str(item), retry_after_seconds=retry_after
        )

    async def close(self) -> None:
        """Close Redis connections, when the storage is Redis (limits has no close of its own)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None and hasattr(client, "aclose"):
            try:
                await client.aclose()
            except Exception:
                log.debug("closing the rate limit storage failed", exc_info=True)
