"""The demo territory's clauses data, loaded through the gateway after the people (see demo.py).

A few realistic Loir-et-Cher operations — the Département, Agglopolys, the Ville de Blois, Territoires
Vendômois, the social landlord and one private buyer — with their lots (required hours from the
calculator), clause-eligible demo participants placed on them, and monthly hours: most validated,
one or two rejected, the last month still declared. Fixed seed: the same data every time.
"""

import random
import time
from dataclasses import dataclass
from datetime import date, timedelta

import httpx
from faker import Faker

SEED = 4141


@dataclass(frozen=True)
class Operation:
    reference: str
    title: str
    buyer: str
    kind: str  # public | private
    legal_basis: str
    lots: tuple[tuple[str, int, float], ...]  # (title, amount excl. tax, labour share)
    started_months_ago: int
    months: int


LEGAL_BASIS = "articles L2112-2 et R2111-10 du code de la commande publique (clause d'insertion)"
OPERATIONS = [
    Operation("CD41-2026-T017", "Restructuration du collège Augustin-Thierry, Blois",
              "Conseil départemental de Loir-et-Cher", "public", LEGAL_BASIS,
              (("Gros œuvre", 1_450_000, 0.45), ("Menuiseries extérieures", 380_000, 0.35),
               ("Peinture et revêtements", 210_000, 0.5)), 7, 18),
    Operation("CD41-2026-R104", "Entretien des routes départementales, secteur Vendômois",
              "Conseil départemental de Loir-et-Cher", "public", LEGAL_BASIS,
              (("Fauchage et débroussaillage", 260_000, 0.6),), 5, 12),
    Operation("AGGLO-2026-EV04", "Entretien des espaces verts communautaires",
              "Agglopolys, communauté d'agglomération de Blois", "public", LEGAL_BASIS,
              (("Secteur Blois-Vineuil", 320_000, 0.55), ("Secteur Loire et Cosson", 190_000, 0.55)), 6, 24),
    Operation("BLOIS-2026-012", "Rénovation énergétique du groupe scolaire Croix-Chevalier",
              "Ville de Blois", "public", LEGAL_BASIS,
              (("Isolation par l'extérieur", 540_000, 0.4), ("Chauffage, ventilation", 310_000, 0.3)), 4, 14),
    Operation("TV-2026-VOI-02", "Voirie communautaire 2026", "Territoires Vendômois", "public", LEGAL_BASIS,
              (("Enrobés et trottoirs", 700_000, 0.3),), 3, 10),
    Operation("TDLH-2026-ROMO", "Réhabilitation de 48 logements, Romorantin-Lanthenay",
              "Terres de Loire Habitat", "public", LEGAL_BASIS,
              (("Plâtrerie, isolation", 420_000, 0.45), ("Électricité", 260_000, 0.35)), 8, 16),
    Operation("LVL-2026-EXT", "Extension d'une plateforme logistique, Mer", "Logistique du Val de Loire SAS",
              "private", "engagement volontaire du maître d'ouvrage (charte locale d'insertion)",
              (("Terrassement et VRD", 900_000, 0.25),), 2, 8),
]  # fmt: skip
HOURLY_COST = 32  # € per hour of labour, loaded
CLAUSE_RATE = 0.07  # 7 % of the labour hours
CONTRACTS = [("direct_hire", "cdd"), ("direct_hire", "cdi"), ("temp_work_etti", "interim"),
             ("temp_work_ett", "interim"), ("direct_hire", "professionalisation"),
             ("siae_subcontracting", "subsidised"), ("training", "professionalisation")]  # fmt: skip
TRADES = ["BTP", "Bâtiment", "Paysage", "TP"]
OVERRIDE = "Orientée par le PLIE du Blaisois : très éloignée de l'emploi, hors des critères (avis du comité de suivi)"


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def looks_eligible(person: dict, today: date) -> bool:
    """What participants will compute (DOMAIN.md §Programmes and publics), near enough to choose people."""
    since = person.get("unemployed_since")
    long_term = since is not None and (today - date.fromisoformat(since)).days >= 365
    return bool(person.get("rsa") or person.get("rqth") or person.get("siae_employee") or long_term)


def _place(client: httpx.Client, lot_id: str, body: dict, wait_s: float = 20.0) -> httpx.Response:
    """Clauses learns of participants (and their eligibility) from their events, a moment after they
    were registered: "unknown" (404) and "eligibility not known yet" (422) are retried until it knows."""
    deadline = time.monotonic() + wait_s
    while True:
        response = client.post(f"/api/v1/clauses/lots/{lot_id}/placements", json=body)
        waiting = response.status_code == 404 or (response.status_code == 422 and "not known to be" in response.text)
        if not waiting or time.monotonic() > deadline:
            return response
        time.sleep(0.25)


def seed(client: httpx.Client, people: list[tuple[str, dict]], today: date) -> None:
    """Load the clauses demo data; `people` are (participant id, the person posted) of the demo."""
    from .demo import demo_siret  # demo imports this module: import at call time

    rng = random.Random(SEED)
    fake = Faker("fr_FR")
    fake.seed_instance(SEED)
    eligible = [pid for pid, person in people if looks_eligible(person, today)]
    others = [pid for pid, person in people if not looks_eligible(person, today)]
    rng.shuffle(eligible)
    this_month = today.replace(day=1)
    slots = []  # (lot, start month)
    for op in OPERATIONS:
        start = add_months(this_month, -op.started_months_ago)
        end = add_months(start, op.months) - timedelta(days=1)
        lots = []
        for number, (title, amount, share) in enumerate(op.lots, start=1):
            calculated = client.post("/api/v1/clauses/calculator", json={
                "amount_excl_tax": str(amount), "labour_share": str(share), "hourly_labour_cost": str(HOURLY_COST),
                "clause_rate": str(CLAUSE_RATE)})  # fmt: skip
            calculated.raise_for_status()
            lots.append({"number": number, "title": title,
                         "contractor": {"name": f"{fake.last_name()} {rng.choice(TRADES)}",
                                        "siret": demo_siret(rng)},
                         "required_hours": str(calculated.json()["required_hours"]),
                         "start_date": start.isoformat(), "end_date": end.isoformat()})  # fmt: skip
        buyer = {"name": op.buyer, "siret": demo_siret(random.Random(op.buyer)), "kind": op.kind}
        created = client.post("/api/v1/clauses/markets", json={"reference": op.reference, "title": op.title,
                              "legal_basis": op.legal_basis, "buyer": buyer, "lots": lots})  # fmt: skip
        if created.status_code == 409:  # loaded already (a second `tremplin run` on the same var/)
            return
        created.raise_for_status()
        slots += [(lot, start) for lot in created.json()["lots"]]
    # The eligible people, and one who is not, placed on a facilitator's override reason.
    candidates = [(pid, None) for pid in eligible[: 2 * len(slots)]] + [(pid, OVERRIDE) for pid in others[:1]]
    for n, (participant_id, override) in enumerate(candidates):
        lot, start = slots[n % len(slots)]
        mode, contract = CONTRACTS[n % len(CONTRACTS)]
        placement_start = add_months(start, rng.randint(0, 2))
        if placement_start > today:
            placement_start = this_month
        body = {"participant_id": participant_id, "mode": mode, "contract_type": contract,
                "start_date": placement_start.isoformat()}  # fmt: skip
        if override:
            body["override_reason"] = override
        placed = _place(client, lot["id"], body)
        if placed.status_code != 201:
            continue  # not eligible (or not known in time): the demo goes on without them
        month = placement_start.replace(day=1)
        while month <= this_month:
            hours = rng.choice([35, 60, 75.5, 91, 105, 120, 151.67])
            declared = client.post(f"/api/v1/clauses/lots/{lot['id']}/hours",
                                   json={"participant_id": participant_id, "month": f"{month:%Y-%m}",
                                         "hours": str(hours)})  # fmt: skip
            if declared.status_code == 422:  # over the monthly cap with another lot: skip that month
                month = add_months(month, 1)
                continue
            declared.raise_for_status()
            entry = declared.json()["id"]
            if month < this_month:
                if rng.random() < 0.08:
                    client.post(
                        f"/api/v1/clauses/hours/{entry}/reject",
                        json={"reason": "Heures non justifiées (pas de relevé signé)"},
                    ).raise_for_status()
                else:
                    client.post(f"/api/v1/clauses/hours/{entry}/validate").raise_for_status()
            month = add_months(month, 1)
