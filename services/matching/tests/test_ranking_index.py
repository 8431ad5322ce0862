"""The spatial index against brute force, and its freshness: what the projection and offer writes
commit reaches it, what they roll back does not."""

import math
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tremplin_matching.adapters import offers_repository
from tremplin_matching.adapters.projection import (
    on_participant_erased,
    on_participant_upserts,
)
from tremplin_matching.adapters.spatial_index import SpatialIndex, cell_of, cells_within
from tremplin_matching.config import Settings
from tremplin_matching.domain.ranking import (
    CandidateProfile,
    OfferProfile,
    RankingRules,
    Weights,
    haversine_km,
    rank_candidates,
    rank_offers,
)
from tremplin_matching.main import create_app
from tremplin_shared.events import (
    ParticipantErasedV1,
    ParticipantFlags,
    ParticipantProfileChangedV1,
    ParticipantRegisteredV1,
    new_event,
)

# Real communes (latitude, longitude), metropolitan and overseas.
COMMUNES = [
    (47.5861, 1.3359),  # Blois
    (47.7929, 1.0656),  # Vendôme
    (47.3597, 1.7411),  # Romorantin-Lanthenay
    (47.3941, 0.6848),  # Tours
    (47.9030, 1.9093),  # Orléans
    (48.8566, 2.3522),  # Paris
    (43.2965, 5.3698),  # Marseille
    (50.6292, 3.0573),  # Lille
    (48.3904, -4.4861),  # Brest
    (41.9192, 8.7386),  # Ajaccio
    (-20.8823, 55.4504),  # Saint-Denis (La Réunion)
    (4.9372, -52.3260),  # Cayenne
]
CODES = ["K2204", "K2201", "K1302", "N1103", "N1105", "N4101", "A1101", "H2102", "J1501"]


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


@st.composite
def places(draw):
    lat, lon = draw(st.sampled_from(COMMUNES))
    # Small jitter, sometimes none at all (same place: distance ties).
    jitter = draw(st.one_of(st.just((0.0, 0.0)), st.tuples(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5))))
    return lat + jitter[0], lon + jitter[1]


@st.composite
def candidates_st(draw, n: int):
    lat, lon = draw(places())
    return CandidateProfile(
        id=uid(n),
        latitude=lat,
        longitude=lon,
        skills=tuple(draw(st.lists(st.sampled_from(CODES), max_size=3))),
        wishes=tuple(draw(st.lists(st.sampled_from(CODES), max_size=2))),
        max_travel_km=draw(st.one_of(st.none(), st.just(0.0), st.floats(0.5, 120))),
        weekly_hours_wanted=draw(st.one_of(st.none(), st.sampled_from([20.0, 24.0, 35.0]), st.floats(0, 48))),
        schedule_exclusions=frozenset(draw(st.lists(st.sampled_from(["night", "weekend", "early"]), max_size=2))),
        driving_licence=draw(st.booleans()),
        consent_matching=draw(st.booleans() | st.just(True)),
        active=draw(st.booleans() | st.just(True)),
    )


@st.composite
def offers_st(draw, n: int):
    lat, lon = draw(places())
    return OfferProfile(
        id=uid(10_000 + n),
        latitude=lat,
        longitude=lon,
        rome_code=draw(st.one_of(st.none(), st.sampled_from(CODES))),
        weekly_hours=draw(st.one_of(st.none(), st.sampled_from([20.0, 35.0]), st.floats(1, 48))),
        requires_driving_licence=draw(st.booleans()),
        night=draw(st.booleans()),
        weekend=draw(st.booleans()),
        early=draw(st.booleans()),
        status=draw(st.sampled_from(["open", "open", "open", "filled", "closed"])),
    )


@st.composite
def territories(draw):
    n_c = draw(st.integers(0, 40))
    n_o = draw(st.integers(0, 40))
    cs = [draw(candidates_st(n)) for n in draw(st.lists(st.integers(1, 5000), min_size=n_c, max_size=n_c, unique=True))]
    os = [draw(offers_st(n)) for n in draw(st.lists(st.integers(1, 5000), min_size=n_o, max_size=n_o, unique=True))]
    return cs, os


def same_everywhere(index: SpatialIndex, cs: list[CandidateProfile], os: list[OfferProfile], rules, k: int) -> None:
    for o in os:
        assert index.candidates_for("t", o, k) == rank_candidates(o, cs, rules, k)
    for c in cs:
        assert index.offers_for("t", c, k) == rank_offers(c, os, rules, k)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    territory=territories(),
    k=st.integers(1, 12),
    cell_deg=st.sampled_from([0.05, 0.15, 0.5, 3.0]),
    default=st.sampled_from([30.0, None, 5.0]),
    proximity_weight=st.sampled_from([0.3, 0.0]),
    moves=st.data(),
)
def test_the_indexed_top_k_is_the_brute_force_top_k(territory, k, cell_deg, default, proximity_weight, moves):
    """ids, order and every value of every match, bit for bit — before and after moves and removals."""
    cs, os = territory
    rules = RankingRules(Weights(0.5, proximity_weight, 0.5 - proximity_weight), default)
    index = SpatialIndex(rules, cell_deg=cell_deg)
    for c in cs:
        index.upsert_candidate("t", c)
    for o in os:
        index.upsert_offer("t", o)
    index.upsert_candidate(
        "other", CandidateProfile(uid(99_999), *COMMUNES[0], ("K2204",), (), 100.0, None, frozenset(), True, True, True)
    )
    same_everywhere(index, cs, os, rules, k)

    # Candidates move (a new profile), some are erased, some offers close or reopen.
    for i in moves.draw(st.lists(st.integers(0, max(len(cs) - 1, 0)), max_size=5)) if cs else []:
        moved = moves.draw(candidates_st(cs[i].id.int))
        cs[i] = moved
        index.upsert_candidate("t", moved)
    for i in sorted(
        set(moves.draw(st.lists(st.integers(0, max(len(cs) - 1, 0)), max_size=3))) if cs else [], reverse=True
    ):
        index.remove_candidate("t", cs.pop(i).id)
    for i in moves.draw(st.lists(st.integers(0, max(len(os) - 1, 0)), max_size=5)) if os else []:
        changed = moves.draw(offers_st(os[i].id.int - 10_000))
        os[i] = changed
        index.upsert_offer("t", changed)
    same_everywhere(index, cs, os, rules, k)


def test_queries_never_see_another_tenant():
    index = SpatialIndex()
    c = CandidateProfile(uid(1), *COMMUNES[0], ("K2204",), (), 30.0, 35.0, frozenset(), True, True, True)
    o = OfferProfile(uid(2), *COMMUNES[0], "K2204", 35.0)
    index.upsert_candidate("a", c)
    index.upsert_offer("a", o)
    assert index.candidates_for("b", o, 10) == []
    assert index.offers_for("b", c, 10) == []
    assert len(index.candidates_for("a", o, 10)) == 1


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(-89.9, 89.9),
    lon=st.floats(-180, 180),
    bearing=st.floats(0, 2 * math.pi),
    radius=st.floats(0, 400),
    share=st.floats(0, 1),
    cell_deg=st.sampled_from([0.05, 0.15, 1.0]),
)
def test_every_point_within_the_radius_is_in_a_gathered_cell(lat, lon, bearing, radius, share, cell_deg):
    """Walk `share` × radius along a bearing (spherical destination formula): its cell is gathered."""
    delta = share * radius / 6371.0088
    phi1, lam1 = math.radians(lat), math.radians(lon)
    phi2 = math.asin(math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(bearing))
    lam2 = lam1 + math.atan2(
        math.sin(bearing) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * math.sin(phi2)
    )
    lat2, lon2 = math.degrees(phi2), (math.degrees(lam2) + 540) % 360 - 180
    if haversine_km(lat, lon, lat2, lon2) <= radius:
        assert cell_of(lat2, lon2, cell_deg) in set(cells_within(lat, lon, radius, cell_deg))


# ---------------------------------------------------------------------------------------------- freshness


@pytest.fixture
async def app(tmp_path):
    settings_ = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/matching.db", run_background_workers=False)
    application = create_app(settings_)
    async with application.router.lifespan_context(application):
        yield application


FLAGS = ParticipantFlags(
    computed_on="2026-11-02", long_term_unemployed=False, very_long_term_unemployed=False, youth=False,
    senior=False, rsa=True, rqth=False, qpv=False, clause_eligible=True,
)  # fmt: skip


def profile(participant_id: uuid.UUID, lat: float, lon: float, **fields) -> ParticipantProfileChangedV1:
    return ParticipantProfileChangedV1(
        participant_id=participant_id,
        changed_at=datetime(2026, 11, 2, 10, tzinfo=UTC),
        latitude=lat,
        longitude=lon,
        skills=fields.pop("skills", ["K2204"]),
        max_travel_km=fields.pop("max_travel_km", 25.0),
        flags=FLAGS,
        consent_matching=fields.pop("consent_matching", True),
        active=fields.pop("active", True),
        **fields,
    )


async def apply(app, tenant: str, handler, data) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await handler(session, new_event(data, tenant=tenant, source="/t"), data)


OFFER_AT_BLOIS = OfferProfile(uid(500), 47.5861, 1.3359, "K2204", 35.0)


async def test_a_profile_change_moves_the_candidate_in_the_index(app):
    index: SpatialIndex = app.state.ranking_index
    pid = uuid.uuid4()
    registered = ParticipantRegisteredV1(
        participant_id=pid, registered_at=datetime(2026, 11, 2, 9, tzinfo=UTC), latitude=47.5861, longitude=1.3359,
        skills=["K2204"],
    )  # fmt: skip
    await apply(app, "t", on_participant_upserts, registered)
    assert not index.contains_candidate("t", pid)  # registered only: not active, no consent yet
    await apply(app, "t", on_participant_upserts, profile(pid, 47.5861, 1.3359))
    assert [m.participant_id for m in index.candidates_for("t", OFFER_AT_BLOIS, 10)] == [pid]
    await apply(app, "t", on_participant_upserts, profile(pid, 43.2965, 5.3698))  # moves to Marseille
    assert index.candidates_for("t", OFFER_AT_BLOIS, 10) == []
    marseille = OfferProfile(uid(501), 43.30, 5.37, "K2204", 35.0)
    assert [m.participant_id for m in index.candidates_for("t", marseille, 10)] == [pid]
    await apply(app, "t", on_participant_upserts, profile(pid, 43.2965, 5.3698, consent_matching=False))
    assert index.candidates_for("t", marseille, 10) == []


async def test_erasure_removes_the_candidate_from_the_ranking(app):
    index: SpatialIndex = app.state.ranking_index
    pid = uuid.uuid4()
    await apply(app, "t", on_participant_upserts, profile(pid, 47.59, 1.34))
    assert index.contains_candidate("t", pid)
    erased = ParticipantErasedV1(participant_id=pid, erased_at=datetime(2026, 11, 3, tzinfo=UTC))
    await apply(app, "t", on_participant_erased, erased)
    assert not index.contains_candidate("t", pid)
    assert index.candidates_for("t", OFFER_AT_BLOIS, 10) == []


async def test_a_rolled_back_transaction_never_reaches_the_index(app):
    index: SpatialIndex = app.state.ranking_index
    pid = uuid.uuid4()
    data = profile(pid, 47.59, 1.34)
    with pytest.raises(RuntimeError):
        async with app.state.sessionmaker() as session, session.begin():
            await on_participant_upserts(session, new_event(data, tenant="t", source="/t"), data)
            raise RuntimeError("the batch fails after the handler ran")
    assert not index.contains_candidate("t", pid)
    await apply(app, "t", on_participant_upserts, data)  # the retry commits
    assert index.contains_candidate("t", pid)


async def test_offer_writes_reach_the_index_after_commit(app):
    index: SpatialIndex = app.state.ranking_index
    now = datetime(2026, 11, 2, tzinfo=UTC)
    oid = uuid.uuid4()
    values = {
        "id": oid, "tenant": "t", "title": "Agent d'entretien", "rome_code": "K2204", "latitude": 47.59,
        "longitude": 1.34, "contract_type": "cdi", "weekly_hours": 35.0, "positions": 1, "open_positions": 1,
        "status": "open", "created_at": now, "updated_at": now,
    }  # fmt: skip
    with pytest.raises(RuntimeError):
        async with app.state.sessionmaker() as session, session.begin():
            await offers_repository.insert(session, values)
            raise RuntimeError("rolled back")
    assert not index.contains_offer("t", oid)
    async with app.state.sessionmaker() as session, session.begin():
        await offers_repository.insert(session, values)
    assert index.contains_offer("t", oid)
    async with app.state.sessionmaker() as session, session.begin():
        await offers_repository.take_position(session, "t", oid, now)  # the last position: filled
    assert not index.contains_offer("t", oid)


async def test_the_index_is_loaded_from_the_database_at_start(tmp_path):
    settings_ = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/m.db", run_background_workers=False)
    first = create_app(settings_)
    pid = uuid.uuid4()
    async with first.router.lifespan_context(first):
        await apply(first, "t", on_participant_upserts, profile(pid, 47.59, 1.34))
    second = create_app(settings_)
    async with second.router.lifespan_context(second):
        assert second.state.ranking_index.contains_candidate("t", pid)
        assert second.state.ranking_index.size("t") == (1, 0)
