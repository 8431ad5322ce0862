"""Rate limits with the `limits` library: per key (or token subject), and failed authentications
per client address and credential, and per client address.

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


def _per_second(item: RateLimitItem) -> float:
    return item.amount / item.get_expiry()


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
    def __init__(
        self,
        storage: Storage,
        default: str,
        auth_failures: str,
        auth_failures_per_address: str | None = None,
        max_key_limit: str | None = None,
    ) -> None:
        self.storage = storage
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.default = parse(default)
        self.auth_failures = parse(auth_failures)  # per (address, credential)
        self.auth_failures_per_address = parse(auth_failures_per_address) if auth_failures_per_address else None
        self.max_key_limit = parse(max_key_limit) if max_key_limit else None
        self._items: dict[str, RateLimitItem] = {}

    def item(self, limit: str | None) -> RateLimitItem:
        if limit is None:
            return self.default
        if limit not in self._items:
            item = parse(limit)
            if self.max_key_limit is not None and _per_second(item) > _per_second(self.max_key_limit):
                item = self.max_key_limit  # a key created with more, before the maximum was set or lowered
            self._items[limit] = item
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

    async def auth_failed(self, address: str, credential: str) -> None:
        """A credential presented from `address` did not authenticate: count it, or 429 when that
        address failed too often lately with that credential (`credential`: its key prefix or a hash
        of it, never the credential itself), or with any. A refusal is not counted again."""
        checks = [(self.auth_failures, ("auth-failure", address, credential))]
        if self.auth_failures_per_address is not None:
            checks.append((self.auth_failures_per_address, ("auth-failure-address", address)))
        try:
            for item, identifiers in checks:
                if not await self.limiter.test(item, *identifiers):
                    stats = await self.limiter.get_window_stats(item, *identifiers)
                    raise self._limited(item, stats.reset_time, "Too many failed authentications from here.")
            for item, identifiers in checks:
                await self.limiter.hit(item, *identifiers)
        except TooManyRequests:
            raise
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
