"""France Travail "Offres d'emploi v2" → our offer fields.

The record is first checked against its contract (`tremplin_shared.events.FranceTravailOffre`, the same
for the import endpoint and the `inbound.france-travail` topic); this module only maps a valid one:

- `id` → external id (source `france_travail`), `intitule` → title, `romeCode` → rome_code;
- `lieuTravail` latitude/longitude (required) and `commune` (INSEE code) → location;
- `typeContrat` + `natureContrat` → contract type: a nature of apprenticeship, professionalisation or
  subsidised contract (CUI, PEC, contrat aidé) wins; otherwise CDI and DIN (CDI intérimaire) → cdi,
  CDD and SAI (saisonnier) → cdd, MIS (mission d'intérim) → interim, DDI (CDD d'insertion) and TTI
  (contrat de travail temporaire d'insertion) → subsidised;
- `dureeTravailLibelle` ("35H Horaires normaux", "24H30/semaine") → weekly hours when it starts with
  hours; else `dureeTravailLibelleConverti` "Temps plein" → 35; otherwise unknown (None);
- `nombrePostes` → positions; `entreprise.nom`/`siret` → employer; a required (`E`) `permis` → driving
  licence required; `competences[].code` (else libelle) → skills;
- `conditionExercice`/`complementExercice` → schedule flags: "nuit" → night; "samedi", "dimanche",
  "week-end" → weekend; "tôt", "matinal", "horaires du matin" → early (best effort on free text).
"""

import re
import unicodedata

from tremplin_shared.events import FranceTravailOffre

SOURCE = "france_travail"
FULL_TIME_HOURS = 35.0

_BY_TYPE = {"CDI": "cdi", "DIN": "cdi", "CDD": "cdd", "SAI": "cdd", "MIS": "interim", "DDI": "subsidised",
            "TTI": "subsidised"}  # fmt: skip
_SUBSIDISED = re.compile(r"\b(cui|pec|aide|emploi d'avenir|insertion)\b")
_HOURS = re.compile(r"^\s*(\d{1,2})\s*h\s*(\d{1,2})?", re.IGNORECASE)


def _plain(text: str | None) -> str:
    """Lower case without accents, for matching free text."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def contract_type(type_contrat: str, nature_contrat: str | None) -> str:
    nature = _plain(nature_contrat)
    if "apprentissage" in nature:
        return "apprenticeship"
    if "professionnalisation" in nature:
        return "professionalisation"
    if _SUBSIDISED.search(nature):
        return "subsidised"
    return _BY_TYPE[type_contrat]


def weekly_hours(libelle: str | None, converti: str | None) -> float | None:
    match = _HOURS.match(libelle or "")
    if match:
        hours = int(match.group(1)) + int(match.group(2) or 0) / 60
        if 0 < hours <= 48:
            return round(hours, 2)
    if _plain(converti).strip() == "temps plein":
        return FULL_TIME_HOURS
    return None


def schedule(*texts: str | None) -> dict[str, bool]:
    text = " ".join(_plain(t) for t in texts)
    return {
        "night": "nuit" in text,
        "weekend": any(w in text for w in ("samedi", "dimanche", "week-end", "week end", "weekend")),
        "early": any(w in text for w in ("tot le matin", "tres tot", "matinal", "horaires du matin")),
    }


def offer_fields(offre: FranceTravailOffre) -> dict:
    """Columns of `offers` (without id, tenant, status, open positions, timestamps)."""
    entreprise = offre.entreprise
    skills = [c.code or c.libelle for c in offre.competences if c.code or c.libelle]
    return {
        "external_source": SOURCE,
        "external_id": offre.id,
        "title": offre.intitule,
        "employer_name": entreprise.nom if entreprise else None,
        "employer_siret": entreprise.siret if entreprise else None,
        "rome_code": offre.romeCode,
        "skills": [s[:100] for s in skills][:50],
        "latitude": offre.lieuTravail.latitude,
        "longitude": offre.lieuTravail.longitude,
        "commune_insee": offre.lieuTravail.commune,
        "contract_type": contract_type(offre.typeContrat, offre.natureContrat),
        "weekly_hours": weekly_hours(offre.dureeTravailLibelle, offre.dureeTravailLibelleConverti),
        "positions": offre.nombrePostes,
        "requires_driving_licence": any((p.exigence or "").upper() == "E" for p in offre.permis),
        **schedule(offre.conditionExercice, offre.complementExercice),
    }
