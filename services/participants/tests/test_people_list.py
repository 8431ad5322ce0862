"""GET /api/v1/participants: filters (programme, state, référent, computed flag, names) and keyset
pagination, on SQLite and PostgreSQL."""

import uuid
from datetime import UTC, date, datetime

import httpx
import pytest
import sqlalchemy as sa

from tremplin_participants.adapters.orm import access_log, parcours, referent_assignments
from tremplin_participants.config import Settings
from tremplin_participants.main import create_app
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

BASE = {"birth_date": "1984-03-12", "sex": "F", "latitude": 47.5861, "longitude": 1.3359}
NAMES = [
    ("Hélène", "Dupré"), ("helene", "DUPRE"), ("Éloïse", "Lefèvre"), ("Paul", "Martin"), ("Anne", "Martin"),
    ("Anne", "Martin"), ("Zoé", "Martinez"), ("Jean-Luc", "de La Fontaine"), ("Ali", "Ben Saïd"), ("Lin", "Wu"),
    ("Noël", "Ōtsuka"), ("Marc", "O'Neil"), ("Inès", "Martin"), ("Léa", "100%_Martin"),
]  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
async def service(request, tmp_path, postgres):
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/participants.db"
    else:
        url = await postgres.create("people_list")
    settings = Settings(database_url=url, run_background_workers=False)
    app = create_app(settings)

    def headers(tenant: str = "loir-et-cher") -> dict:
        return {IDENTITY_HEADER: sign_identity(Identity(tenant, "lister", ("referent",)), settings.identity_secret)}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://participants") as client:
            yield app, client, headers


async def register(client, headers, tenant: str = "loir-et-cher", **fields) -> str:
    response = await client.post("/api/v1/participants", json={**BASE, **fields}, headers=headers(tenant))
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def walk(client, headers, limit: int, tenant: str = "loir-et-cher", **params) -> list[dict]:
    """Every page, following next_cursor; checks no page is larger than asked."""
    items, cursor, pages = [], None, 0
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/participants", params=query, headers=headers(tenant))
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert pages < 1000


def sort_key(item: dict) -> tuple:
    return item["last_name"], item["first_name"], item["id"]


async def test_walking_every_page_returns_each_participant_once_in_order_and_only_the_tenant_s(service):
    _, client, headers = service
    mine = {await register(client, headers, first_name=f, last_name=last) for f, last in NAMES}
    theirs = {await register(client, headers, "indre", first_name=f, last_name=last) for f, last in NAMES[:5]}
    for limit in (1, 3, 5, len(NAMES), 200):
        items = await walk(client, headers, limit)
        ids = [i["id"] for i in items]
        assert len(ids) == len(set(ids)) == len(NAMES)  # no duplicates
        assert set(ids) == mine  # no gaps, nothing foreign
        assert ids == [i["id"] for i in await walk(client, headers, 200)]  # the same order whatever the page size
    # the order is the database's (last_name, first_name, id): equal names are told apart by id
    martins = [i for i in await walk(client, headers, 2) if (i["last_name"], i["first_name"]) == ("Martin", "Anne")]
    assert [m["id"] for m in martins] == sorted(m["id"] for m in martins)
    indre = await walk(client, headers, 2, tenant="indre")
    assert {i["id"] for i in indre} == theirs
    assert (await walk(client, headers, 50, tenant="cher")) == []


async def test_pages_continue_exactly_after_the_cursor(service):
    _, client, headers = service
    for f, last in NAMES:
        await register(client, headers, first_name=f, last_name=last)
    everything = (await client.get("/api/v1/participants", params={"limit": 200}, headers=headers())).json()["items"]
    first = (await client.get("/api/v1/participants", params={"limit": 4}, headers=headers())).json()
    second = (
        await client.get("/api/v1/participants", params={"limit": 4, "cursor": first["next_cursor"]}, headers=headers())
    ).json()
    assert [i["id"] for i in first["items"] + second["items"]] == [i["id"] for i in everything[:8]]
    # a page that ends exactly at the last participant says so
    last_page = (await client.get("/api/v1/participants", params={"limit": len(NAMES)}, headers=headers())).json()
    assert last_page["next_cursor"] is None
    # a cursor names an id only: nothing personal travels in URLs
    assert "Martin" not in first["next_cursor"] and len(first["next_cursor"]) == 22


async def test_free_text_ignores_case_and_accents_and_matches_every_word(service):
    _, client, headers = service
    ids: dict[tuple[str, str], str] = {}
    for f, last in NAMES[:10]:
        ids[(f, last)] = await register(client, headers, first_name=f, last_name=last)
    anne_martins = {i["id"] for i in await walk(client, headers, 50) if i["first_name"] == "Anne"}
    assert len(anne_martins) == 2

    async def search(q: str) -> set[str]:
        return {i["id"] for i in await walk(client, headers, 3, q=q)}

    dupre = {ids[("Hélène", "Dupré")], ids[("helene", "DUPRE")]}
    assert await search("dupre") == dupre
    assert await search("DUPRÉ") == dupre
    assert await search("  Hélène   dupré ") == dupre
    assert await search("lefevre") == {ids[("Éloïse", "Lefèvre")]}
    assert await search("eloise") == {ids[("Éloïse", "Lefèvre")]}
    assert await search("said ben") == {ids[("Ali", "Ben Saïd")]}
    assert await search("fontaine jean") == {ids[("Jean-Luc", "de La Fontaine")]}
    assert await search("martin") == {ids[("Paul", "Martin")], ids[("Zoé", "Martinez")], *anne_martins}
    assert await search("paul martin") == {ids[("Paul", "Martin")]}
    assert await search("nobody") == set()


async def test_like_wildcards_in_the_search_are_taken_literally(service):
    _, client, headers = service
    percent = await register(client, headers, first_name="Léa", last_name="100%_Martin")
    await register(client, headers, first_name="Léa", last_name="100 Martin")
    assert {i["id"] for i in await walk(client, headers, 5, q="100%_")} == {percent}
    assert {i["id"] for i in await walk(client, headers, 5, q="%")} == {percent}


async def test_the_flag_filter_is_computed_at_the_date_and_paginates_exactly(service):
    _, client, headers = service
    long_term, rsa, not_eligible = set(), set(), set()
    for i in range(9):
        # in turn: long-term unemployed on 2026-06-01 (12 months exactly), RSA, or not yet long-term
        kind = i % 3
        fields = {"first_name": f"P{i}", "last_name": f"Flag{i % 4}"}
        if kind == 0:
            long_term.add(await register(client, headers, **fields, unemployed_since="2025-06-01"))
        elif kind == 1:
            rsa.add(await register(client, headers, **fields, rsa=True))
        else:
            not_eligible.add(await register(client, headers, **fields, unemployed_since="2025-06-02"))
    young = await register(client, headers, first_name="Y", last_name="Young", birth_date="2000-06-15",
                           education_level="below_cap")  # fmt: skip

    def at(day: str, **params):
        return walk(client, headers, 2, flag="clause_eligible", at=day, **params)

    on_day = await at("2026-06-01")
    assert [i["id"] for i in on_day] == [i["id"] for i in await walk(client, headers, 200, flag="clause_eligible",
                                                                      at="2026-06-01")]  # fmt: skip
    assert {i["id"] for i in on_day} == long_term | rsa | {young}
    assert all(i["flags"]["clause_eligible"] and i["flags"]["computed_on"] == "2026-06-01" for i in on_day)
    assert {i["id"] for i in await at("2026-05-31")} == rsa | {young}  # 12 months not reached yet
    assert {i["id"] for i in await at("2026-06-02")} == long_term | rsa | not_eligible | {young}
    assert {i["id"] for i in await at("2026-06-15")} == long_term | rsa | not_eligible  # the youth turned 26
    listed = await walk(client, headers, 2, flag="long_term_unemployed", at="2026-06-01")
    assert {i["id"] for i in listed} == long_term
    youth = await walk(client, headers, 2, flag="youth", at="2026-06-14")
    assert [i["id"] for i in youth] == [young]
    assert (await walk(client, headers, 2, flag="youth", at="2026-06-15")) == []


async def test_programme_state_and_referent_filters_look_at_the_parcours(service):
    app, client, headers = service
    people = {name: await register(client, headers, first_name=name, last_name="Parcours") for name in "ABCDE"}
    now = datetime.now(UTC)

    async def open_parcours(who, programme, state, referent=None, ended=False, exited=False):
        pid = uuid.uuid4()
        async with app.state.sessionmaker() as session, session.begin():
            await session.execute(
                sa.insert(parcours).values(id=pid, tenant="loir-et-cher", participant_id=uuid.UUID(people[who]),
                                           programme=programme, state=state, oriented_at=date(2026, 1, 5),
                                           state_since=date(2026, 1, 5), opened_at=now,
                                           exited_at=date(2026, 3, 1) if exited else None,
                                           exit_kind="moved" if exited else None)
            )  # fmt: skip
            if referent:
                await session.execute(
                    sa.insert(referent_assignments).values(id=uuid.uuid4(), tenant="loir-et-cher", parcours_id=pid,
                                                           referent=referent, started_at=date(2026, 1, 5),
                                                           ended_at=date(2026, 2, 1) if ended else None,
                                                           recorded_at=now)
                )  # fmt: skip

    await open_parcours("A", "rsa", "supported", referent="ref-1")
    await open_parcours("B", "rsa", "welcomed", referent="ref-2")
    await open_parcours("B", "plie", "supported", referent="ref-1", ended=True)
    await open_parcours("C", "plie", "exited", referent="ref-1", exited=True)
    await open_parcours("D", "plie", "employed")

    async def names(**params) -> str:
        return "".join(i["first_name"] for i in await walk(client, headers, 2, **params))

    assert await names(programme="rsa") == "AB"
    assert await names(programme="plie") == "BD"  # C's plie parcours is closed
    assert await names(state="supported") == "AB"
    assert await names(programme="rsa", state="supported") == "A"
    assert await names(programme="plie", state="supported") == "B"
    assert await names(state="exited") == "C"
    assert await names(referent="ref-1") == "A"  # B's assignment ended; C's parcours is closed
    assert await names(referent="ref-2", programme="rsa") == "B"
    assert await names(referent="ref-2", programme="plie") == ""  # the same parcours must match both
    assert await names(programme="tzcld") == ""
    assert await names() == "ABCDE"
    # another tenant filtering on the same référent sees nothing
    assert (await walk(client, headers, 2, tenant="indre", referent="ref-1")) == []


async def test_bad_list_parameters_are_422(service):
    _, client, headers = service
    for params, field in [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"flag": "rich"}, "flag"),
        ({"programme": "xyz"}, "programme"),
        ({"state": "sleeping"}, "state"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "AAAAAAAAAAAAAAAAAAAAAA"}, "cursor"),  # well-formed, but no such participant
        ({"at": "2026-13-01"}, "at"),
        ({"at": "1899-12-31"}, "at"),
        ({"at": "0030-01-01", "flag": "rsa"}, "at"),  # was a 500: the senior threshold is year -20
        ({"at": "0001-01-01", "flag": "senior"}, "at"),
    ]:
        response = await client.get("/api/v1/participants", params=params, headers=headers())
        assert response.status_code == 422, (params, response.text)
        assert field in {e["field"] for e in response.json()["errors"]}


async def test_every_flag_filters_at_the_bounds_of_at(service):
    """The first day `at` takes and the last day a date can hold work with every flag (thresholds 1 to
    50 years back, 9999-12-31 included): at 1900-01-01 both are young, at 9999-12-31 both are senior."""
    _, client, headers = service
    await register(client, headers, first_name="Ann", last_name="Aa", birth_date="1900-01-01", rsa=True,
                   unemployed_since="1900-01-01")  # fmt: skip
    await register(client, headers, first_name="Bob", last_name="Bb", birth_date="1950-06-01",
                   job_seeker_registered=True)  # fmt: skip
    expected = {
        "1900-01-01": {"long_term_unemployed": "", "very_long_term_unemployed": "", "youth": "AnnBob", "senior": "",
                       "rsa": "Ann", "clause_eligible": "Ann", "qpv": "", "rqth": ""},
        "9999-12-31": {"long_term_unemployed": "Ann", "very_long_term_unemployed": "Ann", "youth": "",
                       "senior": "AnnBob", "rsa": "Ann", "clause_eligible": "AnnBob", "qpv": "", "rqth": ""},
    }  # fmt: skip
    for at, by_flag in expected.items():
        for flag, names in by_flag.items():
            listed = await walk(client, headers, 5, flag=flag, at=at)
            assert "".join(i["first_name"] for i in listed) == names, (at, flag)
            assert all(i["flags"]["computed_on"] == at and i["flags"][flag] for i in listed), (at, flag)


async def test_listing_logs_one_access_row_per_participant_returned(service):
    app, client, headers = service
    for i in range(5):
        await register(client, headers, first_name=f"L{i}", last_name="Logged")
    await client.get("/api/v1/participants", params={"limit": 3}, headers=headers())
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(sa.select(access_log.c.action, access_log.c.subject))).all()
    assert [tuple(r) for r in rows] == [("list", "lister")] * 3
