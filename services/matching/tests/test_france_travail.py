"""France Travail intake: the v2 mapping, the import endpoint (good, duplicate and malformed records) and
the topic handlers applied like the consumer applies them (the broker path: tests/integration)."""

import copy

import httpx
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from tremplin_matching.adapters import france_travail
from tremplin_matching.adapters.orm import offers
from tremplin_matching.config import Settings
from tremplin_matching.main import build_spec, create_app
from tremplin_shared.events import (
    FranceTravailOffre,
    FranceTravailOffreClosedV1,
    FranceTravailOffrePublishedV1,
    FranceTravailOffreUpdatedV1,
    new_event,
)
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

# A record as `GET /offres/search` returns it (trimmed, but with fields we ignore).
FT_OFFER = {
    "id": "187XKLM",
    "intitule": "Agent / Agente de propreté et d'hygiène (H/F)",
    "description": "Entretien de bureaux à Blois…",
    "dateCreation": "2026-01-12T09:31:08.000Z",
    "dateActualisation": "2026-01-14T10:00:00.000Z",
    "lieuTravail": {"libelle": "41 - BLOIS", "latitude": 47.5861, "longitude": 1.3359, "codePostal": "41000",
                    "commune": "41018"},
    "romeCode": "K2204",
    "romeLibelle": "Nettoyage de locaux",
    "entreprise": {"nom": "NET'LOIR", "siret": "73282932000074", "entrepriseAdaptee": False},
    "typeContrat": "CDD",
    "typeContratLibelle": "Contrat à durée déterminée - 6 Mois",
    "natureContrat": "Contrat travail",
    "experienceExige": "D",
    "competences": [{"code": "124101", "libelle": "Nettoyer des surfaces", "exigence": "S"}],
    "salaire": {"libelle": "Horaire de 11.88 Euros sur 12 mois"},
    "dureeTravailLibelle": "24H30 Travail en journée",
    "dureeTravailLibelleConverti": "Temps partiel",
    "conditionExercice": "Travail tôt le matin, le samedi",
    "permis": [{"libelle": "B - Véhicule léger", "exigence": "E"}],
    "nombrePostes": 2,
    "accessibleTH": True,
}  # fmt: skip


def ft(**over) -> dict:
    record = copy.deepcopy(FT_OFFER)
    record.update(over)
    return record


# ---------------------------------------------------------------------------------------------- mapping
def test_mapping_of_a_v2_offer():
    fields = france_travail.offer_fields(FranceTravailOffre.model_validate(FT_OFFER))
    assert fields == {
        "external_source": "france_travail",
        "external_id": "187XKLM",
        "title": "Agent / Agente de propreté et d'hygiène (H/F)",
        "employer_name": "NET'LOIR",
        "employer_siret": "73282932000074",
        "rome_code": "K2204",
        "skills": ["124101"],
        "latitude": 47.5861,
        "longitude": 1.3359,
        "commune_insee": "41018",
        "contract_type": "cdd",
        "weekly_hours": 24.5,
        "positions": 2,
        "requires_driving_licence": True,
        "night": False,
        "weekend": True,
        "early": True,
    }


@pytest.mark.parametrize(
    ("type_contrat", "nature", "expected"),
    [
        ("CDI", "Contrat travail", "cdi"),
        ("DIN", None, "cdi"),
        ("CDD", "Contrat travail", "cdd"),
        ("SAI", None, "cdd"),
        ("MIS", "Contrat travail", "interim"),
        ("DDI", None, "subsidised"),
        ("TTI", None, "subsidised"),
        ("CDD", "Contrat apprentissage", "apprenticeship"),
        ("CDD", "Cont. professionnalisation", "professionalisation"),
        ("CDD", "CUI - PEC", "subsidised"),
        ("CDD", "Contrat aidé", "subsidised"),
        ("CDI", "Insertion par l'activ.éco.", "subsidised"),
    ],
)
def test_contract_types(type_contrat, nature, expected):
    assert france_travail.contract_type(type_contrat, nature) == expected


@pytest.mark.parametrize(
    ("libelle", "converti", "expected"),
    [
        ("35H Horaires normaux", "Temps plein", 35.0),
        ("39H Travail en journée", None, 39.0),
        ("24H30/semaine", "Temps partiel", 24.5),
        ("20h", None, 20.0),
        (None, "Temps plein", 35.0),
        ("Horaires variables", "Temps partiel", None),
        ("99H", None, None),
        (None, None, None),
    ],
)
def test_weekly_hours(libelle, converti, expected):
    assert france_travail.weekly_hours(libelle, converti) == expected


def test_schedule_from_free_text():
    assert france_travail.schedule("Travail de nuit", None) == {"night": True, "weekend": False, "early": False}
    assert france_travail.schedule(None, "Travail le dimanche") == {"night": False, "weekend": True, "early": False}
    assert france_travail.schedule("Travail en journée", None) == {"night": False, "weekend": False, "early": False}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lieuTravail": {"libelle": "41 - BLOIS"}}, "lieuTravail.latitude"),
        ({"typeContrat": "LIB"}, "typeContrat"),
        ({"romeCode": "K22"}, "romeCode"),
        ({"entreprise": {"nom": "X", "siret": "73282932000075"}}, "entreprise.siret"),
        ({"nombrePostes": 0}, "nombrePostes"),
        ({"intitule": ""}, "intitule"),
    ],
)
def test_the_contract_refuses_what_cannot_be_mapped(change, field):
    with pytest.raises(ValidationError) as raised:
        FranceTravailOffre.model_validate(ft(**change))
    assert field in [".".join(str(p) for p in e["loc"]) for e in raised.value.errors()]


# ---------------------------------------------------------------------------------------------- import
@pytest.fixture
async def matching(tmp_path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/matching.db", run_background_workers=False)
    app = create_app(settings)

    def as_tenant(tenant: str) -> dict:
        return {IDENTITY_HEADER: sign_identity(Identity(tenant, "si-ft", ("referent",)), settings.identity_secret)}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://matching") as client:
            yield app, client, as_tenant


async def offer_rows(app, tenant: str | None = None) -> list[dict]:
    stmt = sa.select(offers).order_by(offers.c.external_id)
    if tenant:
        stmt = stmt.where(offers.c.tenant == tenant)
    async with app.state.sessionmaker() as session:
        return [r._asdict() for r in await session.execute(stmt)]


IMPORT = "/api/v1/offers/import/france-travail"


async def test_import_good_duplicate_and_malformed_records(matching):
    app, client, as_tenant = matching
    h = as_tenant("loir-et-cher")
    records = [
        ft(),
        ft(id="187XKLN", intitule="Cariste (H/F)", romeCode="N1101", typeContrat="MIS", entreprise=None),
        ft(id="BAD1", lieuTravail={"libelle": "41 - BLOIS"}),  # no coordinates
        ft(id="BAD2", typeContrat="FRA", entreprise={"siret": "123"}),  # two faults
        "not an offer",
        {"intitule": "no id"},
    ]
    first = await client.post(IMPORT, json={"resultats": records}, headers=h)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["created"], body["updated"]) == (2, 0)
    by_index = {}
    for error in body["errors"]:
        by_index.setdefault(error["index"], []).append(error)
    assert sorted(by_index) == [2, 3, 4, 5]
    assert [(e["external_id"], e["field"]) for e in by_index[2]] == [("BAD1", "lieuTravail.latitude"),
                                                                     ("BAD1", "lieuTravail.longitude")]  # fmt: skip
    assert sorted(e["field"] for e in by_index[3]) == ["entreprise.siret", "typeContrat"]
    assert by_index[4][0]["external_id"] is None
    assert {e["field"] for e in by_index[5]} >= {"id", "lieuTravail", "typeContrat"}

    rows = await offer_rows(app)
    assert [r["external_id"] for r in rows] == ["187XKLM", "187XKLN"]
    assert rows[1]["contract_type"] == "interim" and rows[1]["employer_siret"] is None
    assert all(r["status"] == "open" for r in rows)

    # The same offers again (a bare list this time), one changed: updated, not duplicated.
    again = await client.post(IMPORT, json=[ft(nombrePostes=3, intitule="Agent de propreté"), ft(id="187XKLN",
                              intitule="Cariste", typeContrat="MIS", romeCode="N1101")], headers=h)  # fmt: skip
    assert again.json() == {"created": 0, "updated": 2, "errors": []}
    rows = await offer_rows(app)
    assert len(rows) == 2
    assert (rows[0]["title"], rows[0]["positions"], rows[0]["open_positions"]) == ("Agent de propreté", 3, 3)
    assert rows[0]["created_at"] < rows[0]["updated_at"]

    # The same external id in another territory is another offer.
    other = await client.post(IMPORT, json=[ft()], headers=as_tenant("indre"))
    assert other.json()["created"] == 1
    assert len(await offer_rows(app, "loir-et-cher")) == 2
    listed = (await client.get("/api/v1/offers", headers=h)).json()["items"]
    assert {o["external"]["id"] for o in listed} == {"187XKLM", "187XKLN"}
    assert all(o["external"]["source"] == "france_travail" for o in listed)


async def test_an_import_with_only_bad_records_writes_nothing(matching):
    app, client, as_tenant = matching
    response = await client.post(IMPORT, json={"resultats": [ft(typeContrat="LIB")]}, headers=as_tenant("t"))
    assert response.status_code == 200
    assert (response.json()["created"], len(response.json()["errors"])) == (0, 1)
    assert await offer_rows(app) == []


@pytest.mark.parametrize("payload", [{"offres": []}, {"resultats": "x"}, "x", {"resultats": [ft()] * 1001}])
async def test_a_body_that_is_not_a_list_of_offers_is_422(matching, payload):
    app, client, as_tenant = matching
    response = await client.post(IMPORT, json=payload, headers=as_tenant("t"))
    assert response.status_code == 422
    assert await offer_rows(app) == []


async def test_an_import_keeps_the_hires_made_here(matching):
    """Positions from the source never drop below the hires made here; a closed offer stays closed."""
    app, client, as_tenant = matching
    h = as_tenant("t")
    await client.post(IMPORT, json=[ft(nombrePostes=3)], headers=h)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(sa.update(offers).values(open_positions=1))  # two hires made here
    await client.post(IMPORT, json=[ft(nombrePostes=1)], headers=h)
    (row,) = await offer_rows(app)
    assert (row["positions"], row["open_positions"], row["status"]) == (2, 0, "filled")
    await client.post(IMPORT, json=[ft(nombrePostes=4)], headers=h)
    (row,) = await offer_rows(app)
    assert (row["positions"], row["open_positions"], row["status"]) == (4, 2, "open")


# ----------------------------------------------------------------------------- topic handlers (no broker)
async def apply(app, data, tenant="loir-et-cher"):
    """What the consumer does with a decoded event: the handler of its type, in one transaction."""
    handlers = build_spec().handlers
    event = new_event(data, tenant=tenant, source="/france-travail")
    async with app.state.sessionmaker() as session, session.begin():
        await handlers[event.type](session, event, data)


async def test_published_updated_closed_events(matching):
    app, client, as_tenant = matching
    assert "inbound.france-travail" in build_spec().consumes
    await apply(app, FranceTravailOffrePublishedV1.model_validate(ft()))
    await apply(app, FranceTravailOffrePublishedV1.model_validate(ft()))  # a duplicate delivery
    (row,) = await offer_rows(app)
    assert row["title"] == FT_OFFER["intitule"]
    await apply(app, FranceTravailOffreUpdatedV1.model_validate(ft(intitule="Agent de propreté")))
    await apply(app, FranceTravailOffreUpdatedV1.model_validate(ft(id="NEW1")))  # unknown: created
    rows = await offer_rows(app)
    assert [(r["external_id"], r["title"]) for r in rows] == [("187XKLM", "Agent de propreté"),
                                                              ("NEW1", FT_OFFER["intitule"])]  # fmt: skip
    await apply(app, FranceTravailOffreClosedV1(id="187XKLM"))
    await apply(app, FranceTravailOffreClosedV1(id="NEVER-SEEN"))  # nothing to close, no error
    await apply(app, FranceTravailOffreUpdatedV1.model_validate(ft()))  # closed stays closed
    rows = await offer_rows(app)
    assert [r["status"] for r in rows] == ["closed", "open"]
    assert (await client.get("/api/v1/offers", params={"status": "closed"}, headers=as_tenant("loir-et-cher"))).json()[
        "items"
    ][0]["external"]["id"] == "187XKLM"
    assert (await client.get("/api/v1/offers", headers=as_tenant("indre"))).json()["items"] == []
