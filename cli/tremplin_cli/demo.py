"""The demo territory that `tremplin run` loads: Loir-et-Cher, realistic and reproducible.

Real communes with their INSEE codes and coordinates, people from Faker's fr_FR locale with a
fixed seed, loaded through the gateway like any départemental platform would — so the demo
exercises the real path (validation, outbox, events, projections). Matching gets job offers from
employers around the same communes (valid SIRETs, the same ROME codes) and a few applications, some
of them hired — which moves the person's parcours to `employed` through `placement.hired`.
"""

import math
import random
import time
from dataclasses import dataclass
from datetime import date, timedelta

import httpx
from faker import Faker
from stdnum import luhn
from stdnum.fr import siret as stdnum_siret

from . import demo_clauses, demo_funding

SEED = 41


@dataclass(frozen=True)
class Commune:
    name: str
    insee: str
    latitude: float
    longitude: float


COMMUNES = [
    Commune("Blois", "41018", 47.5861, 1.3359),
    Commune("Vendôme", "41269", 47.7929, 1.0656),
    Commune("Romorantin-Lanthenay", "41194", 47.3597, 1.7411),
    Commune("Mer", "41136", 47.7047, 1.5075),
    Commune("Salbris", "41232", 47.4244, 2.0514),
    Commune("Saint-Aignan", "41198", 47.2686, 1.3761),
    Commune("Lamotte-Beuvron", "41106", 47.6011, 2.0286),
    Commune("Selles-sur-Cher", "41242", 47.2786, 1.5539),
    Commune("Vineuil", "41295", 47.5836, 1.3761),
    Commune("Mondoubleau", "41143", 47.9831, 0.8997),
    Commune("Montoire-sur-le-Loir", "41149", 47.7525, 0.8653),
]
# ROME codes of jobs that recruit in the département (logistics, care, building, catering, cleaning).
ROME_CODES = ["N1103", "N1105", "J1501", "K1302", "K1304", "F1703", "F1602", "G1602", "G1603", "K2204", "A1414",
              "H2102", "D1106", "N4101"]  # fmt: skip
EDUCATION = ["below_cap", "cap_bep", "bac", "bac_plus_2", "bac_plus_3_or_more"]
REFERENTS = ["cd41-rsa-ref-01", "cd41-rsa-ref-02", "plie-blois-ref-01", "plie-blois-ref-02"]
OFFERS_SEED = SEED + 1


@dataclass(frozen=True)
class Job:
    """What an offer for a ROME code looks like here: its title, the trade of its employers, the
    schedules it tends to have (night, weekend, early) and whether it needs a driving licence."""

    title: str
    trade: str
    schedules: tuple[str, ...] = ()
    licence: float = 0.0  # how often a driving licence is required


JOBS = {
    "N1103": Job("Préparateur de commandes (H/F)", "Logistique", ("early", "night")),
    "N1105": Job("Manutentionnaire (H/F)", "Logistique", ("early",)),
    "J1501": Job("Aide-soignant (H/F)", "EHPAD", ("night", "weekend", "early")),
    "K1302": Job("Aide à domicile (H/F)", "Services à la personne", ("weekend",), licence=0.8),
    "K1304": Job("Employé familial (H/F)", "Services à la personne", (), licence=0.5),
    "F1703": Job("Maçon (H/F)", "Bâtiment", ("early",), licence=0.4),
    "F1602": Job("Électricien du bâtiment (H/F)", "Électricité", (), licence=0.6),
    "G1602": Job("Commis de cuisine (H/F)", "Restauration", ("weekend",)),
    "G1603": Job("Employé polyvalent de restauration (H/F)", "Restauration", ("weekend",)),
    "K2204": Job("Agent de propreté (H/F)", "Propreté", ("early",)),
    "A1414": Job("Ouvrier maraîcher (H/F)", "Maraîchage", ("early", "weekend"), licence=0.2),
    "H2102": Job("Conducteur de ligne agroalimentaire (H/F)", "Agroalimentaire", ("night", "early")),
    "D1106": Job("Employé de rayon (H/F)", "Supermarché", ("early", "weekend")),
    "N4101": Job("Chauffeur poids lourd (H/F)", "Transports", ("night", "early"), licence=1.0),
}
CONTRACTS = ["cdi", "cdi", "cdd", "cdd", "interim", "interim", "apprenticeship", "professionalisation", "subsidised",
             "ebe_cdi"]  # fmt: skip
WEEKLY_HOURS = [20, 24, 26, 28, 30, 35, 35, 35, 39]
# How the demo applications end, in turn: a few hires, the rest at every earlier stage.
APPLICATION_PATHS = [
    ["sent", "interview", "hired"],
    ["sent"],
    ["sent", "interview"],
    ["sent", "interview", "refused"],
    ["sent", "interview", "hired"],
    [],
    ["withdrawn"],
    ["sent", "interview", "hired"],
]
CAN_BE_HIRED = {"supported", "immersion", "training"}  # where a parcours may move to employed


def demo_people(count: int, today: date) -> list[dict]:
    fake = Faker("fr_FR")
    fake.seed_instance(SEED)
    rng = random.Random(SEED)
    people = []
    for _ in range(count):
        commune = rng.choice(COMMUNES)
        sex = rng.choice("FM")
        age = rng.randint(18, 62)
        unemployed_months = rng.choice([None, 3, 8, 14, 26, 40])
        people.append(
            {
                "first_name": fake.first_name_female() if sex == "F" else fake.first_name_male(),
                "last_name": fake.last_name(),
                "birth_date": (today - timedelta(days=age * 365 + rng.randint(0, 364))).isoformat(),
                "sex": sex,
                "email": fake.free_email(),
                "phone": fake.phone_number(),
                "address_line": fake.street_address(),
                "commune_insee": commune.insee,
                # Around the commune's centre, not on it: within about a kilometre.
                "latitude": round(commune.latitude + rng.uniform(-0.01, 0.01), 5),
                "longitude": round(commune.longitude + rng.uniform(-0.015, 0.015), 5),
                "rsa": rng.random() < 0.45,
                "unemployed_since": (today - timedelta(days=30 * unemployed_months)).isoformat()
                if unemployed_months
                else None,
                "job_seeker_registered": rng.random() < 0.7,
                "rqth": rng.random() < 0.12,
                "qpv": commune.name in ("Blois", "Vendôme", "Romorantin-Lanthenay") and rng.random() < 0.4,
                "education_level": rng.choice(EDUCATION),
                "driving_licence": rng.random() < 0.6,
                "vehicle": rng.random() < 0.45,
                "childcare_need": rng.random() < 0.2,
                "siae_employee": rng.random() < 0.08,
                "consent_matching": rng.random() < 0.9,
                "skills": rng.sample(ROME_CODES, rng.randint(1, 3)),
            }
        )
    return people


def demo_siret(rng: random.Random) -> str:
    """A 14-digit SIRET that python-stdnum accepts: a SIREN (8 digits + Luhn key) and an
    establishment number (4 digits + the key that makes all 14 digits pass Luhn)."""
    siren = str(rng.randint(10_000_000, 99_999_999))
    siren += luhn.calc_check_digit(siren)
    body = siren + f"{rng.randint(1, 999):04d}"
    number = body + luhn.calc_check_digit(body)
    assert stdnum_siret.is_valid(number), number
    return number


def demo_offers(count: int, today: date) -> list[dict]:
    """Job offers from employers around the demo communes (a few employers have several)."""
    fake = Faker("fr_FR")
    fake.seed_instance(OFFERS_SEED)
    rng = random.Random(OFFERS_SEED)
    employers: dict[str, list[dict]] = {}  # by trade
    offers = []
    for _ in range(count):
        rome = rng.choice(ROME_CODES)
        job = JOBS[rome]
        known = employers.setdefault(job.trade, [])
        if known and rng.random() < 0.35:
            employer = rng.choice(known)
        else:
            employer = {"name": f"{job.trade} {fake.company()}", "siret": demo_siret(rng),
                        "commune": rng.choice(COMMUNES)}  # fmt: skip
            known.append(employer)
        commune = employer["commune"]
        schedule = {name: name in job.schedules and rng.random() < 0.5 for name in ("night", "weekend", "early")}
        offers.append(
            {
                "title": job.title,
                "employer": {"name": employer["name"], "siret": employer["siret"]},
                "rome_code": rome,
                "skills": [rome],
                "location": {
                    "latitude": round(commune.latitude + rng.uniform(-0.012, 0.012), 5),
                    "longitude": round(commune.longitude + rng.uniform(-0.018, 0.018), 5),
                    "commune_insee": commune.insee,
                },
                "contract_type": rng.choice(CONTRACTS),
                "weekly_hours": rng.choice(WEEKLY_HOURS),
                "positions": rng.choice([1, 1, 1, 2, 3]),
                "start_date": (today + timedelta(days=rng.randint(0, 60))).isoformat(),
                "requirements": {"driving_licence": rng.random() < job.licence},
                "schedule": schedule,
            }
        )
    return offers


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = (map(math.radians, a)), (map(math.radians, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def _path_of(rng: random.Random) -> list[str]:
    """How far along the machine a demo parcours has gone."""
    steps = ["welcomed", "diagnosed", "supported"]
    stop = rng.randint(0, 5)
    path = steps[: min(stop, 3)]
    if stop >= 4:
        path.append(rng.choice(["immersion", "training"]))
    if stop >= 5:
        path.append("employed")
    return path


def seed(gateway_url: str, api_key: str, count: int = 60, today: date | None = None, offers: int = 40) -> int:
    """Load the demo people and their parcours, then the offers and a few applications, through the
    gateway. Returns how many participants were created."""
    today = today or date.today()
    rng = random.Random(SEED)
    headers = {"Authorization": f"Bearer {api_key}"}
    created = 0
    hireable: list[tuple[str, dict]] = []  # (participant id, person) whose parcours may move to employed
    registered: list[tuple[str, dict]] = []  # (participant id, person) of everyone created
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=10) as client:
        for person in demo_people(count, today):
            response = client.post("/api/v1/participants", json={k: v for k, v in person.items() if v is not None})
            response.raise_for_status()
            participant_id = response.json()["id"]
            created += 1
            registered.append((participant_id, person))
            programme = "rsa" if person["rsa"] else rng.choice(["plie", "plie", "iae", "clause"])
            oriented_at = today - timedelta(days=rng.randint(30, 400))
            opened = client.post(
                f"/api/v1/participants/{participant_id}/parcours",
                json={"programme": programme, "oriented_at": oriented_at.isoformat()},
            )
            opened.raise_for_status()
            parcours_id = opened.json()["id"]
            client.put(
                f"/api/v1/parcours/{parcours_id}/referent",
                json={"referent": rng.choice(REFERENTS), "at": (oriented_at + timedelta(days=3)).isoformat()},
            ).raise_for_status()
            at = oriented_at
            path = _path_of(rng)
            if path and path[-1] in CAN_BE_HIRED and person["consent_matching"]:
                hireable.append((participant_id, person))
            for state in path:
                at = min(today, at + timedelta(days=rng.randint(5, 40)))
                if state == "diagnosed":
                    client.post(
                        f"/api/v1/participants/{participant_id}/diagnostics",
                        json={
                            "made_at": at.isoformat(),
                            "barriers": {"mobility": rng.randint(0, 3), "childcare": rng.randint(0, 2)},
                            "skills": person["skills"],
                            "wishes": rng.sample(ROME_CODES, 1),
                            "max_travel_km": rng.choice([10, 20, 30, 45]),
                            "travel_modes": ["car"] if person["vehicle"] else ["public_transport", "bike"],
                            "weekly_hours_wanted": rng.choice([20, 24, 28, 35]),
                            "schedule_exclusions": rng.sample(["night", "weekend", "early"], rng.randint(0, 2)),
                        },
                    ).raise_for_status()
                client.post(
                    f"/api/v1/parcours/{parcours_id}/transitions",
                    json={"to": state, "at": at.isoformat(), "reason": "demo"},
                ).raise_for_status()
            if programme == "rsa" and rng.random() < 0.7:
                signed = min(today, oriented_at + timedelta(days=rng.randint(10, 60)))
                client.post(
                    f"/api/v1/parcours/{parcours_id}/cer",
                    json={
                        "objectives": ["Lever les freins de mobilité", "Construire un projet professionnel"],
                        "signed_at": signed.isoformat(),
                        "review_at": (signed + timedelta(days=180)).isoformat(),
                    },
                ).raise_for_status()
        if offers:
            _seed_matching(client, demo_offers(offers, today), hireable, today)
        demo_clauses.seed(client, registered, today)
        demo_funding.seed(client, registered, today)
    return created


def _seed_matching(client: httpx.Client, offers: list[dict], hireable: list[tuple[str, dict]], today: date) -> None:
    """The offers, then one application per person who could be hired (up to len(APPLICATION_PATHS)),
    on the nearest offer still open in one of their ROME codes (else the nearest open one)."""
    created = []
    for offer in offers:
        response = client.post("/api/v1/offers", json=offer)
        response.raise_for_status()
        created.append({**offer, "id": response.json()["id"], "open": offer["positions"]})
    for (participant_id, person), path in zip(hireable, APPLICATION_PATHS, strict=False):
        where = (person["latitude"], person["longitude"])
        still_open = [o for o in created if o["open"] > 0]
        if not still_open:
            return

        def preference(o: dict, where=where, person=person) -> tuple[bool, float]:
            return o["rome_code"] not in person["skills"], _km(
                where, (o["location"]["latitude"], o["location"]["longitude"])
            )

        offer = min(still_open, key=preference)
        application = _apply(client, participant_id, offer["id"])
        for state in path:
            body = {"to": state, "reason": "demo"}
            if state == "hired":
                body |= {"start_date": today.isoformat(), "contract_type": offer["contract_type"],
                         "weekly_hours": offer["weekly_hours"]}  # fmt: skip
                offer["open"] -= 1
            client.post(f"/api/v1/applications/{application}/transitions", json=body).raise_for_status()


def _apply(client: httpx.Client, participant_id: str, offer_id: str, wait_s: float = 20.0) -> str:
    """Position the person on the offer. Matching learns of participants from their events, a moment
    after they were registered: a 404 is retried until it knows them."""
    deadline = time.monotonic() + wait_s
    while True:
        response = client.post("/api/v1/applications", json={"participant_id": participant_id, "offer_id": offer_id})
        if response.status_code != 404 or time.monotonic() > deadline:
            response.raise_for_status()
            return response.json()["id"]
        time.sleep(0.2)
