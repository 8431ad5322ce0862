"""The demo territory that `tremplin run` loads: Loir-et-Cher, realistic and reproducible.

Real communes with their INSEE codes and coordinates, people from Faker's fr_FR locale with a
fixed seed, loaded through the gateway like any départemental platform would — so the demo
exercises the real path (validation, outbox, events, projections).
"""

import random
from dataclasses import dataclass
from datetime import date, timedelta

import httpx
from faker import Faker

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


def seed(gateway_url: str, api_key: str, count: int = 60, today: date | None = None) -> int:
    """Load the demo people and their parcours through the gateway. Returns how many were created."""
    today = today or date.today()
    rng = random.Random(SEED)
    headers = {"Authorization": f"Bearer {api_key}"}
    created = 0
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=10) as client:
        for person in demo_people(count, today):
            response = client.post("/api/v1/participants", json={k: v for k, v in person.items() if v is not None})
            response.raise_for_status()
            participant_id = response.json()["id"]
            created += 1
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
            for state in _path_of(rng):
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
    return created
