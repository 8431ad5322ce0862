"""The repository of webhook subscriptions, deliveries and attempts."""

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from .orm import webhook_attempts, webhook_deliveries, webhook_subscriptions

Row = dict[str, Any]


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -------------------------------------------------------------------------------- subscriptions

    async def add_subscription(self, row: Row) -> None:
        await self.session.execute(webhook_subscriptions.insert().values(**row))

    async def subscriptions(self, tenant: str) -> list[Row]:
        stmt = (
            sa.select(webhook_subscriptions)
            .where(webhook_subscriptions.c.tenant == tenant)
            .order_by(webhook_subscriptions.c.created_at, webhook_subscriptions.c.id)
        )
        return [dict(r._mapping) for r in await self.session.execute(stmt)]

    async def subscription(self, subscription_id: uuid.UUID, tenant: str | None = None) -> Row | None:
        stmt = sa.select(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id)
        if tenant is not None:
            stmt = stmt.where(webhook_subscriptions.c.tenant == tenant)
        row = (await self.session.execute(stmt)).first()
        return dict(row._mapping) if row else None

    async def enabled_subscriptions(self, tenant: str) -> list[Row]:
        stmt = sa.select(webhook_subscriptions).where(
            webhook_subscriptions.c.tenant == tenant, webhook_subscriptions.c.enabled.is_(True)
        )
        return [dict(r._mapping) for r in await self.session.execute(stmt)]

    async def delete_subscription(self, subscription_id: uuid.UUID, tenant: str) -> bool:
        deliveries = sa.select(webhook_deliveries.c.id).where(webhook_deliveries.c.subscription_id == subscription_id)
        found = await self.subscription(subscription_id, tenant)
        if found is None:
            return False
        await self.session.execute(webhook_attempts.delete().where(webhook_attempts.c.delivery_id.in_(deliveries)))
        await self.session.execute(
            webhook_deliveries.delete().where(webhook_deliveries.c.subscription_id == subscription_id)
        )
        await self.session.execute(webhook_subscriptions.delete().where(webhook_subscriptions.c.id == subscription_id))
        return True

    async def update_subscription(self, subscription_id: uuid.UUID, tenant: str, **values: Any) -> None:
        await self.session.execute(
            webhook_subscriptions.update()
            .where(webhook_subscriptions.c.id == subscription_id, webhook_subscriptions.c.tenant == tenant)
            .values(**values)
        )

    async def pending_bodies(self, subscription_id: uuid.UUID) -> list[Row]:
        d = webhook_deliveries
        stmt = sa.select(d.c.id, d.c.event_type, d.c.body).where(
            d.c.subscription_id == subscription_id, d.c.status == "pending"
        )
        return [dict(r._mapping) for r in await self.session.execute(stmt)]

    async def enable(self, subscription_id: uuid.UUID, tenant: str) -> None:
        await self.session.execute(
            webhook_subscriptions.update()
            .where(webhook_subscriptions.c.id == subscription_id, webhook_subscriptions.c.tenant == tenant)
            .values(enabled=True, consecutive_failures=0, disabled_at=None)
        )

    async def subscription_failed(self, subscription_id: uuid.UUID, disable_after: int, now: datetime) -> bool:
        """One more consecutive failure; disables the subscription at `disable_after`. Whether it did."""
        await self.session.execute(
            webhook_subscriptions.update()
            .where(webhook_subscriptions.c.id == subscription_id)
            .values(consecutive_failures=webhook_subscriptions.c.consecutive_failures + 1)
        )
        result = await self.session.execute(
            webhook_subscriptions.update()
            .where(
                webhook_subscriptions.c.id == subscription_id,
                webhook_subscriptions.c.enabled.is_(True),
                webhook_subscriptions.c.consecutive_failures >= disable_after,
            )
            .values(enabled=False, disabled_at=now)
        )
        return result.rowcount > 0

    async def subscription_succeeded(self, subscription_id: uuid.UUID) -> None:
        await self.session.execute(
            webhook_subscriptions.update()
            .where(webhook_subscriptions.c.id == subscription_id)
            .values(consecutive_failures=0)
        )

    async def stats(self) -> Row:
        """For /metrics, every tenant together: deliveries per status, the oldest pending one's
        creation, the subscriptions disabled by repeated failures."""
        d, s = webhook_deliveries, webhook_subscriptions
        by_status = dict(
            (await self.session.execute(sa.select(d.c.status, sa.func.count()).group_by(d.c.status))).all()
        )
        oldest = (
            await self.session.execute(sa.select(sa.func.min(d.c.created_at)).where(d.c.status == "pending"))
        ).scalar()
        disabled = (await self.session.execute(sa.select(sa.func.count()).where(s.c.enabled.is_(False)))).scalar_one()
        return {"by_status": by_status, "oldest_pending": oldest, "disabled_subscriptions": disabled}

    # -------------------------------------------------------------------------------- deliveries

    async def enqueue(self, rows: list[Row]) -> None:
        """New deliveries; one already there for the same subscription and event is kept as it is."""
        if not rows:
            return
        dialect = postgresql if self.session.bind.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(webhook_deliveries).on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
        await self.session.execute(stmt, rows)

    async def due(self, now: datetime, limit: int, exclude: Collection[uuid.UUID] = ()) -> list[Row]:
        """Pending deliveries whose time has come, of enabled subscriptions (but those in `exclude`:
        being sent to already), oldest first."""
        d, s = webhook_deliveries, webhook_subscriptions
        stmt = (
            sa.select(d, s.c.url, s.c.secret)
            .join(s, s.c.id == d.c.subscription_id)
            .where(d.c.status == "pending", d.c.next_attempt_at <= now, s.c.enabled.is_(True))
            .order_by(d.c.next_attempt_at, d.c.created_at)
            .limit(limit)
        )
        if exclude:
            stmt = stmt.where(d.c.subscription_id.not_in(list(exclude)))
        return [dict(r._mapping) for r in await self.session.execute(stmt)]

    async def claim(self, delivery_id: uuid.UUID, seen_next: datetime, lease_until: datetime) -> bool:
        """Take a due delivery for this worker (another instance that saw it too gets False)."""
        result = await self.session.execute(
            webhook_deliveries.update()
            .where(
                webhook_deliveries.c.id == delivery_id,
                webhook_deliveries.c.status == "pending",
                webhook_deliveries.c.next_attempt_at == seen_next,
            )
            .values(next_attempt_at=lease_until)
        )
        return result.rowcount == 1

    async def record_attempt(self, row: Row) -> None:
        await self.session.execute(webhook_attempts.insert().values(**row))

    async def update_delivery(self, delivery_id: uuid.UUID, **values: Any) -> bool:
        """Whether the delivery is still there (an erasure may have forgotten it meanwhile)."""
        result = await self.session.execute(
            webhook_deliveries.update().where(webhook_deliveries.c.id == delivery_id).values(**values)
        )
        return result.rowcount > 0

    async def still_pending(self, delivery_id: uuid.UUID) -> Row | None:
        """A claimed delivery's body and its subscription's grant of personal data as they are now;
        None when it is no longer to be sent (forgotten by an erasure since the claim)."""
        d, s = webhook_deliveries, webhook_subscriptions
        stmt = (
            sa.select(d.c.body, s.c.personal_data)
            .join(s, s.c.id == d.c.subscription_id)
            .where(d.c.id == delivery_id, d.c.status == "pending")
        )
        row = (await self.session.execute(stmt)).first()
        return dict(row._mapping) if row else None

    async def forget_participant(self, tenant: str, participant_id: uuid.UUID, *, keep_event_type: str) -> int:
        """Delete, in the caller's transaction (the consumer's, applying the erasure), every delivery of
        `tenant`'s subscriptions whose body mentions the participant, with its attempts — pending (never
        sent, then), delivered or failed (gone from the delivery log) alike; but those of
        `keep_event_type` (participant.erased: what subscribers must be told, and all it says is that
        someone was erased). The body is the CloudEvent's JSON text: the id's canonical string (hex
        digits and hyphens, no LIKE wildcard) is in it wherever the event names the person (`data`,
        `subject`). Scoped by tenant (the subscription's): the same id in another territory is another
        person. Idempotent. The number of deliveries deleted."""
        d, s, a = webhook_deliveries, webhook_subscriptions, webhook_attempts
        doomed = (
            sa.select(d.c.id)
            .join(s, s.c.id == d.c.subscription_id)
            .where(s.c.tenant == tenant, d.c.body.like(f"%{participant_id}%"), d.c.event_type != keep_event_type)
        )
        # Subqueries, not a list of ids: one person's events times the subscriptions may be many.
        await self.session.execute(a.delete().where(a.c.delivery_id.in_(doomed)))  # the FK: attempts first
        return (await self.session.execute(d.delete().where(d.c.id.in_(doomed)))).rowcount

    async def deliveries(self, subscription_id: uuid.UUID, limit: int = 100) -> list[Row]:
        """Newest first, each with its attempts (oldest first)."""
        d, a = webhook_deliveries, webhook_attempts
        rows = [
            dict(r._mapping)
            for r in await self.session.execute(
                sa.select(d).where(d.c.subscription_id == subscription_id).order_by(d.c.created_at.desc()).limit(limit)
            )
        ]
        if not rows:
            return rows
        attempts: dict[uuid.UUID, list[Row]] = {}
        stmt = sa.select(a).where(a.c.delivery_id.in_([r["id"] for r in rows])).order_by(a.c.number)
        for r in await self.session.execute(stmt):
            attempts.setdefault(r.delivery_id, []).append(dict(r._mapping))
        for row in rows:
            row["attempt_log"] = attempts.get(row["id"], [])
        return rows
