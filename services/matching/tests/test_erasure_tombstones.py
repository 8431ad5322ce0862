"""An erased participant stays erased: an older event about them applied after the erasure (a DLQ
replay, a rebuild) is skipped — the tombstone recorded with the erasure says so. And the erasure leaves
nothing that names the person: applications aliased, reasons blanked, outbox events gone."""

import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from tests.consumed import consume, event
from tests.leaks import outside_tombstones, rows_mentioning, snapshot
from tremplin_matching.adapters.orm import application_transitions, applications
from tremplin_matching.adapters.projection import get_candidate
from tremplin_matching.config import Settings
from tremplin_matching.main import build_spec
from tremplin_shared.events import ParticipantErasedV1, PlacementHiredV1
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity
from tremplin_shared.messaging.tables import erasure_tombstones, outbox

from .test_applications_api import HIRE, an_offer, apply, move
from .test_candidate_profile import profile, registered

SPEC = build_spec(Settings())  # the consumer's handlers, as main.py wires them


async def test_events_replayed_after_an_erasure_bring_nothing_back(matching_app):
    pid = uuid.uuid4()
    old_registration, old_profile = event("loir-et-cher", registered(pid)), event("loir-et-cher", profile(pid))
    await consume(matching_app, SPEC, [old_registration, event("indre", registered(pid))])
    erased_at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    await consume(
        matching_app, SPEC, [event("loir-et-cher", ParticipantErasedV1(participant_id=pid, erased_at=erased_at))]
    )
    await consume(matching_app, SPEC, [old_registration])  # a DLQ replay: a fresh inbox row for another consumer run
    await consume(matching_app, SPEC, [old_profile, event("loir-et-cher", registered(pid))])
    async with matching_app.state.sessionmaker() as session:
        assert await get_candidate(session, "loir-et-cher", pid) is None
        assert await get_candidate(session, "indre", pid) is not None  # another territory's person
        rows = (await session.execute(select(erasure_tombstones))).all()
    assert [(r.tenant, r.participant_id, r.erased_at) for r in rows] == [("loir-et-cher", pid, erased_at)]


async def test_within_one_batch_events_after_the_erasure_are_skipped(matching_app):
    pid = uuid.uuid4()
    erased = ParticipantErasedV1(participant_id=pid, erased_at=datetime.now(UTC))
    await consume(
        matching_app, SPEC, [event("indre", e) for e in (registered(pid), erased, profile(pid), registered(pid))]
    )
    await consume(matching_app, SPEC, [event("indre", erased)])  # an erasure twice: still one tombstone
    async with matching_app.state.sessionmaker() as session:
        assert await get_candidate(session, "indre", pid) is None
        assert len((await session.execute(select(erasure_tombstones))).all()) == 1


async def test_the_erasure_leaves_nothing_that_names_the_person_and_keeps_the_funnel(matching_app):
    tenant = "loir-et-cher"
    pid, other = uuid.uuid4(), uuid.uuid4()
    await consume(matching_app, SPEC, [event(tenant, e) for p in (pid, other) for e in (registered(p), profile(p))])
    secret = matching_app.state.settings.identity_secret
    h = {IDENTITY_HEADER: sign_identity(Identity(tenant, "referente-41", ("referent",)), secret)}
    transport = httpx.ASGITransport(app=matching_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://matching") as client:
        first, second = await an_offer(client, h), await an_offer(client, h)
        hired = (await apply(client, h, str(pid), first["id"], reason="suivie pour une addiction")).json()
        for state in ("sent", "interview"):
            assert (await move(client, h, hired["id"], state, reason="a parlé de sa dette")).status_code == 201
        assert (await move(client, h, hired["id"], **HIRE)).status_code == 201  # placement.hired in the outbox
        withdrawn = (await apply(client, h, str(pid), second["id"])).json()
        assert (await move(client, h, withdrawn["id"], "withdrawn", reason="hospitalisée")).status_code == 201
        assert (await apply(client, h, str(other), second["id"], reason="profil proche")).status_code == 201

        async def funnel():
            params = {"from": "2000-01-01", "to": "2999-12-31"}
            return (await client.get("/api/v1/matching/funnel", params=params, headers=h)).json()

        before = await funnel()
        assert (before["participants_positioned"], before["hires"]) == (2, 1)
        assert set(await rows_mentioning(matching_app, pid)) == {"candidates", "applications", "outbox"}
        erasure = event(tenant, ParticipantErasedV1(participant_id=pid, erased_at=datetime.now(UTC)))
        await consume(matching_app, SPEC, [erasure])
        assert await funnel() == before  # states and dates stay: the counts do not move

    assert outside_tombstones(await rows_mentioning(matching_app, pid)) == {}
    # the tombstone holds the real id by design (what keeps the person erased), and nothing else does
    assert list(await rows_mentioning(matching_app, pid)) == ["erasure_tombstones"]
    async with matching_app.state.sessionmaker() as session:
        rows = (await session.execute(select(applications).order_by(applications.c.created_at))).all()
        theirs = [r for r in rows if r.participant_id != other]
        assert [r.state for r in theirs] == ["hired", "withdrawn"]
        assert len({r.participant_id for r in theirs}) == 1  # one alias for the person's applications
        t = application_transitions.c
        reasons = dict((await session.execute(select(t.application_id, t.reason).where(t.reason.is_not(None)))).all())
        left = (await session.execute(select(t.reason).where(t.application_id.in_([r.id for r in theirs])))).scalars()
        assert set(left) <= {"", None}
        assert "profil proche" in reasons.values()  # another person's reasons stay
        hires = await session.execute(select(outbox.c.value).where(outbox.c.event_type == PlacementHiredV1.ce_type))
        assert hires.all() == []
    # A redelivered erasure (a DLQ replay, a rebuild) changes nothing more.
    kept = await snapshot(matching_app)
    await consume(matching_app, SPEC, [erasure])
    assert await snapshot(matching_app) == kept
