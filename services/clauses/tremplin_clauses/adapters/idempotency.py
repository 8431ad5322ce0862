"""Idempotency-Key for the POSTs machines send (a contractor's system pushing hours, a buyer's tool
registering markets): the same key with the same body gives back what the first request created,
never a second one; the same key with another body is refused."""

import hashlib
import json
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from .orm import idempotency_keys


def request_hash(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def find(session: AsyncSession, tenant: str, scope: str, key: str) -> dict | None:
    row = (
        await session.execute(
            sa.select(idempotency_keys).where(
                idempotency_keys.c.tenant == tenant, idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
            )
        )
    ).first()
    return row._asdict() if row else None


async def remember(session: AsyncSession, tenant: str, scope: str, key: str, digest: str, resource_id: uuid.UUID):
    """In the creation's transaction; a concurrent twin makes it fail (IntegrityError) and roll back."""
    await session.execute(
        sa.insert(idempotency_keys).values(
            tenant=tenant, scope=scope, key=key, request_hash=digest, resource_id=resource_id,
            created_at=datetime.now(UTC),
        )
    )  # fmt: skip
