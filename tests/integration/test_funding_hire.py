"""The hire-to-worker path end to end, on PostgreSQL and the real broker, with participants, matching
and funding running:

participants registers a person and moves the parcours to `supported` (participants.events → matching's
candidate); an EBE that holds a CDE convention in funding offers an `ebe_cdi` job; the référente moves
the application up to the hire → placement.hired on `matching.events` (outbox, relay) → funding's
consumer adds the worker to the EBE's convention. The parcours is then exited in participants →
parcours.exited on `participants.events` → funding ends the worker on the exit date. A run for the
month of the hire prepares the CDE, and disbursement.prepared reaches `funding.events`.
"""

import contextlib
from datetime import timedelta

import httpx
from schwifty import IBAN

from tremplin_funding.config import Settings as FundingSettings
from tremplin_funding.main import create_app as create_funding
from tremplin_matching.config import Settings as MatchingSettings
from tremplin_matching.main import create_app as create_matching
from tremplin_participants.config import Settings as ParticipantsSettings
from tremplin_participants.domain.flags import today
from tremplin_participants.main import create_app as create_participants
from tremplin_shared.events.funding import DisbursementPreparedV1
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

from .kafka_helpers import read_matching

TENANT = "loir-et-cher"
EBE_SIRET = "73282932000074"
EBE_IBAN = IBAN.generate("FR", bank_code="30004", account_code="00012345678").compact
PAYER_IBAN = IBAN.generate("FR", bank_code="20041", account_code="01005012345").compact
BASE = today() - timedelta(days=60)
FAST_GROUP = {"consumer_session_timeout_ms": 3000, "consumer_heartbeat_interval_ms": 300,
              "consumer_rebalance_timeout_ms": 2000, "consumer_max_attempts": 2,
              "consumer_retry_backoff_seconds": 0.05}  # fmt: skip
PERSON = {"first_name": "Inès", "last_name": "Moreau", "birth_date": "1979-09-30", "sex": "F",
          "latitude": 47.59, "longitude": 1.33, "skills": ["K2204"]}  # fmt: skip


def day(n: int) -> str:
    return (BASE + timedelta(days=n)).isoformat()


@contextlib.asynccontextmanager
async def running(app, secret: str, base_url: str, subject: str, roles: tuple[str, ...]):
    headers = {IDENTITY_HEADER: sign_identity(Identity(TENANT, subject, roles), secret)}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers) as client:
            yield client


async def test_an_ebe_hire_adds_the_cde_worker_and_the_exit_ends_it(broker, postgres, wait_for):
    common = {"kafka_bootstrap_servers": broker.bootstrap, **FAST_GROUP}
    participants_settings = ParticipantsSettings(database_url=await postgres.create("fh_participants"),
                                                 durable_exit_interval_seconds=3600, **common)  # fmt: skip
    matching_settings = MatchingSettings(database_url=await postgres.create("fh_matching"), **common)
    funding_settings = FundingSettings(database_url=await postgres.create("fh_funding"), **common)
    participants_app = create_participants(participants_settings)
    matching_app = create_matching(matching_settings)
    funding_app = create_funding(funding_settings)
    async with (
        running(participants_app, participants_settings.identity_secret, "http://participants", "referente",
                ("referent",)) as participants,
        running(matching_app, matching_settings.identity_secret, "http://matching", "referente",
                ("referent",)) as matching,
        running(funding_app, funding_settings.identity_secret, "http://funding", "gestionnaire",
                ("fund_manager",)) as funding,
    ):  # fmt: skip
        # Funding: the ETCLD fund and the EBE's CDE convention, in force since before the hire.
        fund = await funding.post("/api/v1/funding/funds", json={
            "name": "ETCLD", "kind": "etcld_cde", "payer": {"name": "ETCLD", "iban": PAYER_IBAN},
            "funders": [{"name": "État", "share": "70"}, {"name": "Département de Loir-et-Cher", "share": "30"}],
            "envelopes": [{"year": y, "amount": "1000000"} for y in range(BASE.year, BASE.year + 2)],
        })  # fmt: skip
        assert fund.status_code == 201, fund.text
        convention = await funding.post("/api/v1/funding/conventions", json={
            "fund_id": fund.json()["id"], "kind": "cde", "cde_rate": "0.95", "period": {"start": day(0)},
            "beneficiary": {"name": "EBE Val de Loire", "siret": EBE_SIRET, "iban": EBE_IBAN},
        })  # fmt: skip
        assert convention.status_code == 201, convention.text
        workers_url = f"/api/v1/funding/conventions/{convention.json()['id']}/workers"

        # Participants: a person whose tzcld parcours is `supported`, known to matching through events.
        person = await participants.post("/api/v1/participants", json=PERSON)
        assert person.status_code == 201, person.text
        pid = person.json()["id"]
        parcours = await participants.post(f"/api/v1/participants/{pid}/parcours",
                                           json={"programme": "tzcld", "oriented_at": day(0)})  # fmt: skip
        assert parcours.status_code == 201, parcours.text
        parcours_id = parcours.json()["id"]
        for n, state in enumerate(("welcomed", "diagnosed", "supported"), start=1):
            moved = await participants.post(f"/api/v1/parcours/{parcours_id}/transitions",
                                            json={"to": state, "at": day(n)})  # fmt: skip
            assert moved.status_code == 201, moved.text

        async def candidate_known() -> bool:
            return (await matching.get(f"/api/v1/matching/candidates/{pid}")).status_code == 200

        assert await wait_for(candidate_known, timeout=60)

        # Matching: the EBE's offer in ebe_cdi, the application up to the hire at 30 h a week.
        offer = await matching.post("/api/v1/offers", json={
            "title": "Agent polyvalent (EBE)", "employer": {"name": "EBE Val de Loire", "siret": EBE_SIRET},
            "contract_type": "ebe_cdi", "weekly_hours": 30, "location": {"latitude": 47.59, "longitude": 1.33},
        })  # fmt: skip
        assert offer.status_code == 201, offer.text
        application = await matching.post("/api/v1/applications",
                                          json={"participant_id": pid, "offer_id": offer.json()["id"]})  # fmt: skip
        assert application.status_code == 201, application.text
        application_id = application.json()["id"]
        for state in ("sent", "interview"):
            step = await matching.post(f"/api/v1/applications/{application_id}/transitions", json={"to": state})
            assert step.status_code == 201, step.text
        hired = await matching.post(f"/api/v1/applications/{application_id}/transitions", json={
            "to": "hired", "start_date": day(10), "contract_type": "ebe_cdi", "weekly_hours": 30})  # fmt: skip
        assert hired.status_code == 201, hired.text

        async def workers() -> list:
            return (await funding.get(workers_url)).json()["items"]

        assert await wait_for(workers, timeout=60), "the hire never reached funding"
        (worker,) = await workers()
        assert (worker["participant_id"], worker["weekly_hours"], worker["start_date"], worker["end_date"]) == (
            pid, "30.00", day(10), None)  # fmt: skip
        assert (worker["source"], worker["application_id"]) == ("placement.hired", application_id)

        # The hire moved the parcours to employed (participants); exiting it ends the worker (funding).
        async def parcours_state() -> str:
            return (await participants.get(f"/api/v1/parcours/{parcours_id}")).json()["state"]

        async def employed() -> bool:
            return await parcours_state() == "employed"

        assert await wait_for(employed, timeout=60), await parcours_state()
        exited = await participants.post(f"/api/v1/parcours/{parcours_id}/transitions",
                                         json={"to": "exited", "at": day(40), "exit_kind": "moved"})  # fmt: skip
        assert exited.status_code == 201, exited.text

        async def ended() -> bool:
            items = await workers()
            return bool(items) and items[0]["end_date"] == day(40)

        assert await wait_for(ended, timeout=60), await workers()

        # A run for the month of the hire: the CDE of that worker, prepared and published.
        period = day(10)[:7]
        run = await funding.post("/api/v1/funding/runs", json={"period": period})
        assert run.status_code == 201, run.text
        (disbursement,) = run.json()["created"]
        assert [line["participant_id"] for line in disbursement["lines"]] == [pid]
        (record,) = await read_matching(
            broker.bootstrap, "funding.events", lambda r: r.key == disbursement["id"].encode(), expected=1
        )
        event = DisbursementPreparedV1.model_validate_json(record.value)
        assert (str(event.disbursement_id), str(event.total), event.period) == (
            disbursement["id"], disbursement["total"], period)  # fmt: skip
        assert funding_app.state.consumer.dead_lettered_total == 0
