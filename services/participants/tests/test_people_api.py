"""The people side of the participants API, in-process on SQLite and on PostgreSQL (no broker: the
outbox rows are what is checked): registration with the NIR, reads, PATCH, flags, erasure, access
log, tenant isolation."""

import json
import logging
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from stdnum.fr import nir as stdnum_nir

from tests.leaks import rows_mentioning
from tremplin_participants.adapters.orm import access_log, diagnostics, parcours, parcours_transitions, participants
from tremplin_participants.config import Settings
from tremplin_participants.domain.flags import today
from tremplin_participants.main import create_app
from tremplin_participants.profile import stage_profile_changed
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity
from tremplin_shared.log import JsonFormatter
from tremplin_shared.messaging.tables import outbox

REGISTERED = "fr.tremplin.participants.participant.registered.v1"
PROFILE_CHANGED = "fr.tremplin.participants.participant.profile_changed.v1"
ERASED = "fr.tremplin.participants.participant.erased.v1"


def make_nir(body: str) -> str:
    """A real-format NIR: 13 digits (sex, year, month, département, commune, order) + its key."""
    return body + stdnum_nir.calc_check_digits(body)


NIR = make_nir("1840341018123")  # a man born in March 1984 in Loir-et-Cher (41), commune 018
OTHER_NIR = make_nir("2910775056042")
CORSICAN_NIR = make_nir("2850" + "12A004" + "017")

CAMILLE = {
    "first_name": "Camille",
    "last_name": "Martin",
    "birth_date": "1984-03-12",
    "sex": "F",
    "email": "camille.martin@example.org",
    "phone": "06 12 34 56 78",
    "address_line": "3 rue Porte Côté",
    "commune_insee": "41018",
    "latitude": 47.5861,
    "longitude": 1.3359,
    "rsa": True,
    "unemployed_since": "2024-01-15",
    "job_seeker_registered": True,
    "rqth": False,
    "qpv": True,
    "education_level": "cap_bep",
    "driving_licence": True,
    "vehicle": False,
    "childcare_need": True,
    "siae_employee": False,
    "consent_matching": True,
    "skills": ["K2204", "N1103"],
}


class Service:
    def __init__(self, app, client: httpx.AsyncClient, settings: Settings, backend: str) -> None:
        self.app, self.client, self.settings, self.backend = app, client, settings, backend

    def headers(self, tenant: str = "loir-et-cher", subject: str = "referent-1", request_id: str | None = None):
        identity = Identity(tenant, subject, ("referent",), request_id)
        return {IDENTITY_HEADER: sign_identity(identity, self.settings.identity_secret)}

    async def register(self, tenant: str = "loir-et-cher", **changes) -> dict:
        response = await self.client.post(
            "/api/v1/participants", json={**CAMILLE, **changes}, headers=self.headers(tenant)
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def outbox_rows(self) -> list[dict]:
        async with self.app.state.sessionmaker() as session:
            return [r._asdict() for r in await session.execute(sa.select(outbox).order_by(outbox.c.seq))]

    async def events(self, event_type: str, participant_id: str | None = None) -> list[dict]:
        rows = [r for r in await self.outbox_rows() if r["event_type"] == event_type]
        values = [json.loads(r["value"]) for r in rows]
        return [v for v in values if participant_id is None or v["participant_id"] == participant_id]

    async def execute(self, statement):
        async with self.app.state.sessionmaker() as session, session.begin():
            return (await session.execute(statement)).all() if statement.is_select else None


@pytest.fixture(params=["sqlite", "postgres"])
async def service(request, tmp_path, postgres):
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/participants.db"
    else:
        url = await postgres.create("people")
    settings = Settings(database_url=url, run_background_workers=False, nir_hash_key="test-nir-key")
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://participants") as client:
            yield Service(app, client, settings, request.param)


# ------------------------------------------------------------------------------------------ registration
async def test_a_full_registration_is_read_back_with_flags_and_without_the_nir(service):
    created = await service.register(nir=NIR)
    assert created["has_nir"] is True and "nir" not in created and "nir_hash" not in created
    assert created["phone"] == "0612345678"  # separators dropped
    assert created["education_level"] == "cap_bep" and created["qpv"] is True
    assert created["flags"]["computed_on"] == today().isoformat()
    assert created["flags"]["rsa"] is True and created["flags"]["clause_eligible"] is True
    read = await service.client.get(f"/api/v1/participants/{created['id']}", headers=service.headers())
    assert read.status_code == 200
    assert read.json() == created


async def test_registration_emits_registered_and_profile_changed_without_identity(service):
    created = await service.register(nir=NIR)
    registered = await service.events(REGISTERED, created["id"])
    profile = await service.events(PROFILE_CHANGED, created["id"])
    assert len(registered) == 1 and len(profile) == 1
    profile = profile[0]
    assert profile["skills"] == ["K2204", "N1103"] and profile["commune_insee"] == "41018"
    assert profile["consent_matching"] is True and profile["active"] is False and profile["driving_licence"] is True
    assert profile["flags"]["rsa"] is True and profile["flags"]["computed_on"] == today().isoformat()
    for row in await service.outbox_rows():
        for secret in ("Camille", "Martin", "1984-03-12", "camille.martin", "0612345678", "Porte"):
            assert secret not in row["value"] and secret not in json.dumps(row["headers"])


@pytest.mark.parametrize(
    "nir", [NIR, CORSICAN_NIR, f"{NIR[0]} {NIR[1:3]} {NIR[3:5]} {NIR[5:7]} {NIR[7:10]} {NIR[10:]}"]
)
async def test_a_valid_nir_is_accepted(service, nir):
    assert (await service.register(nir=nir))["has_nir"] is True


@pytest.mark.parametrize(
    "nir",
    [
        NIR[:13] + f"{(int(NIR[13:]) % 97) + 1:02d}",  # wrong control key
        NIR[:-1],  # too short
        "1840341O18123" + NIR[13:],  # a letter
    ],
)
async def test_an_invalid_nir_is_422_on_the_nir_field_and_is_not_echoed(service, nir):
    response = await service.client.post(
        "/api/v1/participants", json={**CAMILLE, "nir": nir}, headers=service.headers()
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["nir"]
    assert nir not in response.text and nir[:13] not in response.text
    assert await service.outbox_rows() == []


async def test_the_same_nir_twice_in_a_tenant_is_409_with_the_existing_id(service):
    first = await service.register(nir=NIR)
    response = await service.client.post(
        "/api/v1/participants", json={**CAMILLE, "first_name": "Paul", "nir": NIR}, headers=service.headers()
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["existing_id"] == first["id"]
    assert NIR not in response.text
    assert len(await service.events(REGISTERED)) == 1  # nothing half-written


async def test_the_same_nir_in_another_tenant_is_allowed_and_invisible(service):
    mine = await service.register("loir-et-cher", nir=NIR)
    theirs = await service.register("indre", nir=NIR)
    assert theirs["id"] != mine["id"]
    indre = service.headers("indre")
    assert (await service.client.get(f"/api/v1/participants/{mine['id']}", headers=indre)).status_code == 404
    listed = (await service.client.get("/api/v1/participants", headers=indre)).json()
    assert [p["id"] for p in listed["items"]] == [theirs["id"]]


async def test_the_nir_is_in_no_response_log_line_outbox_row_or_database_page(service, caplog):
    captured: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(JsonFormatter("participants").format(record))

    root = logging.getLogger()
    handlers = [Capture(level=logging.DEBUG), caplog.handler]
    for handler in handlers:
        root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        responses = []
        first = await service.register(nir=NIR)
        responses.append(json.dumps(first))
        for nir in (NIR, NIR[:13] + "00"):  # a duplicate, an invalid key
            r = await service.client.post(
                "/api/v1/participants", json={**CAMILLE, "nir": nir}, headers=service.headers()
            )
            responses.append(r.text)
        pid = first["id"]
        for r in (
            await service.client.get(f"/api/v1/participants/{pid}", headers=service.headers()),
            await service.client.get("/api/v1/participants", headers=service.headers()),
            await service.client.patch(
                f"/api/v1/participants/{pid}", json={"nir": OTHER_NIR}, headers=service.headers()
            ),
            await service.client.get(f"/api/v1/participants/{pid}/access-log", headers=service.headers()),
        ):
            assert r.status_code == 200, r.text
            responses.append(r.text)
    finally:
        root.setLevel(level)
        for handler in handlers:
            root.removeHandler(handler)
    outbox_dump = json.dumps(await service.outbox_rows(), default=str)
    stored = (await service.execute(sa.select(participants.c.nir_hash)))[0][0]
    for nir in (NIR, OTHER_NIR):
        forms = {nir, nir[:13], f"{nir[0]} {nir[1:3]}"}
        for form in forms:
            assert all(form not in text for text in responses)
            assert all(form not in line for line in captured)
            assert form not in caplog.text
            assert form not in outbox_dump
    assert stored not in outbox_dump  # not even the hash travels
    assert len(stored) == 64 and OTHER_NIR not in stored
    assert captured, "the capture saw no log line at all"
    if service.backend == "sqlite":  # the database file itself: the NIR was never written
        database = Path(service.settings.database_url.split("///", 1)[1])
        for path in database.parent.glob(database.name + "*"):
            content = path.read_bytes()
            assert NIR.encode() not in content and OTHER_NIR.encode() not in content


# ----------------------------------------------------------------------------------------------- flags
async def test_flags_are_computed_for_today_or_for_the_date_asked(service):
    young = await service.register(birth_date="2000-06-15", rsa=False, unemployed_since=None,
                                    education_level="below_cap", job_seeker_registered=False)  # fmt: skip
    url, headers = f"/api/v1/participants/{young['id']}", service.headers()
    before = (await service.client.get(url, params={"at": "2026-06-14"}, headers=headers)).json()["flags"]
    on = (await service.client.get(url, params={"at": "2026-06-15"}, headers=headers)).json()["flags"]
    assert before["computed_on"] == "2026-06-14" and before["youth"] and before["clause_eligible"]
    assert on["computed_on"] == "2026-06-15" and not on["youth"] and not on["clause_eligible"]
    listed = (await service.client.get("/api/v1/participants", params={"at": "2026-06-14"}, headers=headers)).json()
    assert listed["items"][0]["flags"] == before
    assert (await service.client.get(url, params={"at": "14/06/2026"}, headers=headers)).status_code == 422


# ----------------------------------------------------------------------------------------------- PATCH
async def test_patch_changes_only_the_fields_sent_and_emits_profile_changed_when_matching_cares(service):
    created = await service.register()
    url, headers = f"/api/v1/participants/{created['id']}", service.headers()

    renamed = await service.client.patch(url, json={"first_name": "Camila", "email": None}, headers=headers)
    assert renamed.status_code == 200, renamed.text
    body = renamed.json()
    assert body["first_name"] == "Camila" and body["email"] is None and body["last_name"] == "Martin"
    assert body["updated_at"] is not None
    assert len(await service.events(PROFILE_CHANGED, created["id"])) == 1  # names: nothing for matching

    moved = await service.client.patch(url, json={"latitude": 47.2, "commune_insee": "41269"}, headers=headers)
    assert moved.status_code == 200
    profiles = await service.events(PROFILE_CHANGED, created["id"])
    assert len(profiles) == 2 and profiles[-1]["latitude"] == 47.2 and profiles[-1]["commune_insee"] == "41269"

    same = await service.client.patch(url, json={"latitude": 47.2}, headers=headers)  # no change at all
    assert same.status_code == 200
    assert len(await service.events(PROFILE_CHANGED, created["id"])) == 2

    await service.client.patch(url, json={"rsa": False, "unemployed_since": None}, headers=headers)
    profiles = await service.events(PROFILE_CHANGED, created["id"])
    assert len(profiles) == 3 and profiles[-1]["flags"]["rsa"] is False


async def test_patch_of_the_nir_is_checked_again(service):
    first = await service.register(nir=NIR)
    second = await service.register(nir=OTHER_NIR)
    url, headers = f"/api/v1/participants/{second['id']}", service.headers()
    taken = await service.client.patch(url, json={"nir": NIR}, headers=headers)
    assert taken.status_code == 409 and taken.json()["existing_id"] == first["id"]
    wrong = await service.client.patch(url, json={"nir": NIR[:13] + "00"}, headers=headers)
    assert wrong.status_code == 422 and [e["field"] for e in wrong.json()["errors"]] == ["nir"]
    own = await service.client.patch(url, json={"nir": OTHER_NIR}, headers=headers)  # its own NIR again
    assert own.status_code == 200
    removed = await service.client.patch(url, json={"nir": None}, headers=headers)
    assert removed.status_code == 200 and removed.json()["has_nir"] is False
    reused = await service.client.patch(f"/api/v1/participants/{first['id']}", json={"nir": None}, headers=headers)
    assert reused.json()["has_nir"] is False
    assert (await service.client.patch(url, json={"nir": NIR}, headers=headers)).json()["has_nir"] is True


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"first_name": None}, "first_name"),
        ({"latitude": None}, "latitude"),
        ({"rsa": None}, "rsa"),
        ({"sex": "X"}, "sex"),
        ({"commune_insee": "4101"}, "commune_insee"),
        ({"education_level": "master"}, "education_level"),
        ({"phone": "12"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"unemployed_since": "2999-01-01"}, "unemployed_since"),
        ({"unemployed_since": "1950-01-01"}, "unemployed_since"),  # before the birth date
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"nickname": "Cam"}, "nickname"),
    ],
)
async def test_invalid_patches_are_422_with_the_field_and_change_nothing(service, change, field):
    created = await service.register()
    url = f"/api/v1/participants/{created['id']}"
    response = await service.client.patch(url, json=change, headers=service.headers())
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
    after = (await service.client.get(url, headers=service.headers())).json()
    assert after == created


async def test_corsican_commune_codes_are_accepted_and_upper_cased(service):
    assert (await service.register(commune_insee="2a004"))["commune_insee"] == "2A004"


# ----------------------------------------------------------------------------------------------- tenancy
async def test_a_foreign_id_is_404_on_every_route_and_changes_nothing(service):
    theirs = await service.register("indre", nir=NIR)
    mine = service.headers("loir-et-cher")
    url = f"/api/v1/participants/{theirs['id']}"
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"first_name": "Intrus", "nir": NIR}),
        ("DELETE", url, None),
        ("GET", f"{url}/access-log", None),
    ]:
        response = await service.client.request(method, path, json=body, headers=mine)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    own = await service.client.get(url, headers=service.headers("indre"))
    assert own.status_code == 200 and own.json()["first_name"] == "Camille"
    log = (await service.client.get(f"{url}/access-log", headers=service.headers("indre"))).json()["items"]
    assert [e["action"] for e in log] == ["read"]  # the foreign attempts were not even logged
    assert await service.events(ERASED) == []


# ---------------------------------------------------------------------------------------------- erasure
async def test_erasure_anonymises_keeps_statistics_emits_the_event_and_then_410(service):
    created = await service.register(nir=NIR)
    pid = uuid.UUID(created["id"])
    parcours_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with service.app.state.sessionmaker() as session, session.begin():
        await session.execute(
            sa.insert(parcours).values(id=parcours_id, tenant="loir-et-cher", participant_id=pid, programme="rsa",
                                       state="welcomed", oriented_at=date(2026, 1, 5), state_since=date(2026, 1, 9),
                                       opened_at=now)
        )  # fmt: skip
        await session.execute(
            sa.insert(parcours_transitions).values(id=uuid.uuid4(), tenant="loir-et-cher", parcours_id=parcours_id,
                                                   from_state="oriented", to_state="welcomed", at=date(2026, 1, 9),
                                                   reason="a confié ses difficultés de santé", actor="referent-1",
                                                   recorded_at=now)
        )  # fmt: skip
        await session.execute(
            sa.insert(diagnostics).values(id=uuid.uuid4(), tenant="loir-et-cher", participant_id=pid,
                                          made_at=date(2026, 1, 9), barriers={"health": 3}, skills=["K2204"],
                                          wishes=[], travel_modes=[], schedule_exclusions=[], recorded_at=now)
        )  # fmt: skip
    url, headers = f"/api/v1/participants/{pid}", service.headers()

    response = await service.client.delete(url, headers=headers)
    assert response.status_code == 204 and response.content == b""

    row = (await service.execute(sa.select(participants).where(participants.c.id == pid)))[0]._asdict()
    assert (row["first_name"], row["last_name"]) == ("ERASED", "ERASED")
    assert row["birth_date"] == date(1984, 7, 1)
    assert row["unemployed_since"] == date(2024, 1, 1)
    for name in ("email", "phone", "address_line", "nir_hash", "search_name"):
        assert row[name] is None, name
    assert (row["latitude"], row["longitude"]) == (47.59, 1.34)
    assert row["skills"] == [] and row["consent_matching"] is False and row["erased_at"] is not None
    assert (row["sex"], row["rsa"], row["commune_insee"], row["tenant"]) == ("F", True, "41018", "loir-et-cher")
    # statistics kept, descriptions of the person gone
    assert len(await service.execute(sa.select(parcours).where(parcours.c.participant_id == pid))) == 1
    transitions = await service.execute(sa.select(parcours_transitions.c.to_state, parcours_transitions.c.reason))
    assert [tuple(t) for t in transitions] == [("welcomed", None)]
    assert await service.execute(sa.select(diagnostics).where(diagnostics.c.participant_id == pid)) == []

    erased = await service.events(ERASED, str(pid))
    assert len(erased) == 1 and set(erased[0]) == {"participant_id", "erased_at"}
    for outbox_row in await service.outbox_rows():
        if outbox_row["event_type"] == ERASED:
            assert "Camille" not in outbox_row["value"] and "Martin" not in outbox_row["value"]
    # The outbox forgot the person's events (registered, profile_changed: coordinates, sex, flags): no
    # republish can send them again. Only the erasure itself is left, pending, to go out.
    mentioning = [r for r in await service.outbox_rows() if str(pid) in r["value"] or r["key"] == str(pid)]
    assert [(r["event_type"], r["published_at"]) for r in mentioning] == [(ERASED, None)]
    outbox_left = (await rows_mentioning(service.app, pid))["outbox"]
    assert [r["event_id"] for r in outbox_left] == [r["event_id"] for r in mentioning]

    for method in ("GET", "PATCH", "DELETE"):
        gone = await service.client.request(method, url, json={"first_name": "X"} if method == "PATCH" else None,
                                            headers=headers)  # fmt: skip
        assert gone.status_code == 410, (method, gone.text)
        assert "Camille" not in gone.text
    assert (await service.client.get("/api/v1/participants", headers=headers)).json()["items"] == []
    # The NIR is free again in the tenant (its hash is gone with the person).
    assert (await service.register(nir=NIR))["has_nir"] is True
    # The access trail outlives the data.
    log = (await service.client.get(f"{url}/access-log", headers=headers)).json()["items"]
    assert [e["action"] for e in log] == ["erase"]
    # An erased person has no profile any more: nothing is staged for them.
    async with service.app.state.sessionmaker() as session, session.begin():
        await stage_profile_changed(session, "loir-et-cher", pid)
    assert await service.events(PROFILE_CHANGED, str(pid)) == []


async def test_erasure_forgets_the_persons_events_only_published_or_not(service):
    camille, other = await service.register(), await service.register(first_name="Léa")
    elsewhere = await service.register("indre")
    published = sa.update(outbox).where(outbox.c.event_type == REGISTERED).values(published_at=datetime.now(UTC))
    await service.execute(published)  # what `tremplin outbox republish` could send again

    async def counts(pid: str) -> tuple[int, int]:
        return len(await service.events(REGISTERED, pid)), len(await service.events(PROFILE_CHANGED, pid))

    before = {r["event_id"] for r in await service.outbox_rows()}
    assert [await counts(p["id"]) for p in (camille, other, elsewhere)] == [(1, 1)] * 3
    erased = await service.client.delete(f"/api/v1/participants/{camille['id']}", headers=service.headers())
    assert erased.status_code == 204
    # another person of the territory, a person of another one: theirs stay
    assert [await counts(p["id"]) for p in (camille, other, elsewhere)] == [(0, 0), (1, 1), (1, 1)]
    after = {r["event_id"] for r in await service.outbox_rows()}
    assert len(before - after) == 2 and len(after - before) == 1  # the person's two events out, the erasure in


# ------------------------------------------------------------------------------------------- access log
async def test_reads_and_changes_are_written_to_the_access_log_newest_first(service):
    created = await service.register()
    other = await service.register(first_name="Paul")
    url = f"/api/v1/participants/{created['id']}"
    await service.client.get(url, headers=service.headers(subject="alice", request_id="req-1"))
    await service.client.get("/api/v1/participants", headers=service.headers(subject="bob", request_id="req-2"))
    await service.client.patch(url, json={"phone": "0254000000"}, headers=service.headers(subject="carol"))
    await service.client.get(f"{url}/access-log", headers=service.headers())  # reading the log is not logged

    log = (await service.client.get(f"{url}/access-log", headers=service.headers())).json()
    entries = [(e["action"], e["subject"]) for e in log["items"]]
    assert entries == [("update", "carol"), ("list", "bob"), ("read", "alice")]
    assert [e["request_id"] for e in log["items"]][1:] == ["req-2", "req-1"]
    assert log["items"][2]["participant_id"] == created["id"] and log["next_cursor"] is None
    assert all(e["at"] for e in log["items"])
    others = await service.client.get(f"/api/v1/participants/{other['id']}/access-log", headers=service.headers())
    assert [e["action"] for e in others.json()["items"]] == ["list"]  # one row per participant listed

    first = (await service.client.get(f"{url}/access-log", params={"limit": 2}, headers=service.headers())).json()
    rest = await service.client.get(
        f"{url}/access-log", params={"limit": 2, "cursor": first["next_cursor"]}, headers=service.headers()
    )
    assert [e["action"] for e in first["items"] + rest.json()["items"]] == ["update", "list", "read"]
    assert rest.json()["next_cursor"] is None
    bad = await service.client.get(f"{url}/access-log", params={"cursor": "nope"}, headers=service.headers())
    assert bad.status_code == 422


async def test_a_failed_read_writes_no_access_log_row(service):
    await service.register()
    assert (
        await service.client.get(f"/api/v1/participants/{uuid.uuid4()}", headers=service.headers())
    ).status_code == 404
    async with service.app.state.sessionmaker() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(access_log))).scalar() == 0


# ------------------------------------------------------------------------------------ profile for the parcours
async def test_stage_profile_changed_uses_the_latest_diagnostic_and_open_parcours(service):
    created = await service.register()
    pid = uuid.UUID(created["id"])
    now = datetime.now(UTC)
    async with service.app.state.sessionmaker() as session, session.begin():
        for made_at, skills, km in ((date(2026, 1, 5), ["A1101"], 10.0), (date(2026, 2, 5), ["F1703"], 25.0)):
            await session.execute(
                sa.insert(diagnostics).values(id=uuid.uuid4(), tenant="loir-et-cher", participant_id=pid,
                                              made_at=made_at, barriers={"mobility": 2}, skills=skills,
                                              wishes=["F1702"], max_travel_km=km, travel_modes=["bike"],
                                              weekly_hours_wanted=24.0, schedule_exclusions=["night"],
                                              recorded_at=now)
            )  # fmt: skip
        await session.execute(
            sa.insert(parcours).values(id=uuid.uuid4(), tenant="loir-et-cher", participant_id=pid, programme="plie",
                                       state="oriented", oriented_at=date(2026, 2, 1), state_since=date(2026, 2, 1),
                                       opened_at=now)
        )  # fmt: skip
        await stage_profile_changed(session, "loir-et-cher", pid, at=date(2026, 3, 1))
        await stage_profile_changed(session, "indre", pid)  # another tenant's id: nothing
    profile = (await service.events(PROFILE_CHANGED, str(pid)))[-1]
    assert profile["skills"] == ["F1703"] and profile["wishes"] == ["F1702"] and profile["max_travel_km"] == 25.0
    assert profile["travel_modes"] == ["bike"] and profile["weekly_hours_wanted"] == 24.0
    assert profile["schedule_exclusions"] == ["night"] and profile["active"] is True
    assert profile["flags"]["computed_on"] == "2026-03-01"
    assert len(await service.events(PROFILE_CHANGED, str(pid))) == 2
