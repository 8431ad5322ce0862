"""Event contracts. A breaking change is a new class with a new version, never an edit.

To add an event type: subclass EventData with `ce_type`, `topic`, `aggregate` (the field that
identifies the aggregate and becomes the Kafka key); it is registered by that alone and appears
in the AsyncAPI document.
"""

from datetime import date, datetime
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from stdnum.fr import siret as stdnum_siret

from .personal import personal

RomeCode = Annotated[str, StringConstraints(pattern=r"^[A-N]\d{4}$")]

EVENT_TYPES: dict[str, type["EventData"]] = {}


class EventData(BaseModel):
    """Base of every event payload. No names, no NIR: only what consumers need."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ce_type: ClassVar[str]
    topic: ClassVar[str]
    aggregate: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "ce_type" in cls.__dict__:
            if cls.ce_type in EVENT_TYPES:
                raise TypeError(f"event type {cls.ce_type} is declared twice")
            EVENT_TYPES[cls.ce_type] = cls

    def aggregate_id(self) -> str:
        return str(getattr(self, self.aggregate))


def contract_for(ce_type: str) -> type[EventData] | None:
    return EVENT_TYPES.get(ce_type)


PARTICIPANTS_TOPIC = "participants.events"
MATCHING_TOPIC = "matching.events"
CLAUSES_TOPIC = "clauses.events"
FUNDING_TOPIC = "funding.events"
# Pushed by France Travail-style systems (through the gateway's event intake or straight to Kafka).
INBOUND_FRANCE_TRAVAIL_TOPIC = "inbound.france-travail"


class ParticipantRegisteredV1(EventData):
    """A participant entered the platform in a territory. Location and skills feed matching."""

    ce_type: ClassVar[str] = "fr.tremplin.participants.participant.registered.v1"
    topic: ClassVar[str] = PARTICIPANTS_TOPIC
    aggregate: ClassVar[str] = "participant_id"

    participant_id: UUID
    registered_at: datetime
    latitude: float = Field(ge=-90, le=90, json_schema_extra=personal("location"))
    longitude: float = Field(ge=-180, le=180, json_schema_extra=personal("location"))
    skills: list[RomeCode] = Field(default_factory=list)


Programme = Literal["rsa", "plie", "tzcld", "clause", "iae"]
ParcoursState = Literal["oriented", "welcomed", "diagnosed", "supported", "immersion", "training", "employed", "exited"]
ExitKind = Literal[
    "durable_employment",
    "temporary_employment",
    "subsidised_contract",
    "qualifying_training",
    "business_creation",
    "moved",
    "health",
    "dropped_out",
    "other",
]
ScheduleExclusion = Literal["night", "weekend", "early"]
ContractType = Literal["cdi", "cdd", "interim", "apprenticeship", "professionalisation", "subsidised", "ebe_cdi"]


class ParticipantFlags(BaseModel):
    """Publics computed from the situation at `computed_on` (DOMAIN.md §Programmes and publics)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    computed_on: date
    long_term_unemployed: bool
    very_long_term_unemployed: bool
    youth: bool
    senior: bool
    rsa: bool
    rqth: bool = Field(json_schema_extra=personal("health"))
    qpv: bool = Field(description="Lives in a quartier prioritaire", json_schema_extra=personal("location"))
    clause_eligible: bool


class ParticipantProfileChangedV1(EventData):
    """What matching and clauses need to know of a participant, after any change. No names, no NIR."""

    ce_type: ClassVar[str] = "fr.tremplin.participants.participant.profile_changed.v1"
    topic: ClassVar[str] = PARTICIPANTS_TOPIC
    aggregate: ClassVar[str] = "participant_id"

    participant_id: UUID
    changed_at: datetime
    latitude: float = Field(ge=-90, le=90, json_schema_extra=personal("location"))
    longitude: float = Field(ge=-180, le=180, json_schema_extra=personal("location"))
    commune_insee: str | None = Field(
        default=None, pattern=r"^(\d{5}|2[AB]\d{3})$", json_schema_extra=personal("location")
    )
    skills: list[RomeCode] = Field(default_factory=list)
    wishes: list[RomeCode] = Field(default_factory=list)
    max_travel_km: float | None = Field(default=None, ge=0)
    travel_modes: list[str] = Field(default_factory=list)
    weekly_hours_wanted: float | None = Field(default=None, ge=0, le=48)
    schedule_exclusions: list[ScheduleExclusion] = Field(default_factory=list)
    driving_licence: bool = False
    vehicle: bool = False
    flags: ParticipantFlags
    consent_matching: bool = False
    active: bool = Field(description="Has an open parcours in some programme.")
    # A statistic, not an identifier: clauses reports count participants by sex.
    sex: Literal["F", "M"] | None = None


class ParticipantErasedV1(EventData):
    """The person asked to be forgotten: every service purges what it holds on them."""

    ce_type: ClassVar[str] = "fr.tremplin.participants.participant.erased.v1"
    topic: ClassVar[str] = PARTICIPANTS_TOPIC
    aggregate: ClassVar[str] = "participant_id"

    participant_id: UUID
    erased_at: datetime


class ParcoursOpenedV1(EventData):
    ce_type: ClassVar[str] = "fr.tremplin.participants.parcours.opened.v1"
    topic: ClassVar[str] = PARTICIPANTS_TOPIC
    aggregate: ClassVar[str] = "parcours_id"

    parcours_id: UUID
    participant_id: UUID
    programme: Programme
    oriented_at: date


class ParcoursTransitionedV1(EventData):
    ce_type: ClassVar[str] = "fr.tremplin.participants.parcours.transitioned.v1"
    topic: ClassVar[str] = PARTICIPANTS_TOPIC
    aggregate: ClassVar[str] = "parcours_id"

    parcours_id: UUID
    participant_id: UUID
    programme: Programme
    from_state: ParcoursState
    to_state: ParcoursState
    at: date
    exit_kind: ExitKind | None = None


class ParcoursExitedV1(EventData):
    ce_type: ClassVar[str] = "fr.tremplin.participants.parcours.exited.v1"
    topic: ClassVar[str] = PARTICIPANTS_TOPIC
    aggregate: ClassVar[str] = "parcours_id"

    parcours_id: UUID
    participant_id: UUID
    programme: Programme
    exit_kind: ExitKind
    positive: bool
    at: date


class ReferentAssignedV1(EventData):
    ce_type: ClassVar[str] = "fr.tremplin.participants.referent.assigned.v1"
    topic: ClassVar[str] = PARTICIPANTS_TOPIC
    aggregate: ClassVar[str] = "parcours_id"

    parcours_id: UUID
    participant_id: UUID
    referent: str = Field(min_length=1, max_length=200, description="The professional's id in the territory.")
    at: date


class PlacementHiredV1(EventData):
    """A participant was hired on an offer (matching). Participants, clauses and funding react."""

    ce_type: ClassVar[str] = "fr.tremplin.matching.placement.hired.v1"
    topic: ClassVar[str] = MATCHING_TOPIC
    aggregate: ClassVar[str] = "application_id"

    application_id: UUID
    participant_id: UUID
    offer_id: UUID
    employer_siret: str = Field(pattern=r"^\d{14}$")
    contract_type: ContractType
    start_date: date
    weekly_hours: float = Field(gt=0, le=48)
    clause_lot_id: UUID | None = None


# ------------------------------------------------------------------------------- France Travail (inbound)
# Offers pushed by France Travail-style systems, in the shape of the "Offres d'emploi v2" API
# (https://francetravail.io, `GET /offres/search` → `resultats[]`). Only the fields matching uses are
# declared; the others (description, salaire, contact, …) are accepted and ignored. These are the
# contract of the topic AND of `POST /api/v1/offers/import/france-travail`: a record that fails it is
# a per-record error there, and a dead letter on the topic.
# typeContrat codes that are employment contracts matching can place on; LIB (profession libérale),
# FRA (franchise), CCE (cession de commerce) and REP (reprise d'entreprise) are not and are refused.
FranceTravailTypeContrat = Literal["CDI", "CDD", "MIS", "SAI", "DIN", "DDI", "TTI"]


class _FranceTravailPart(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FranceTravailLieuTravail(_FranceTravailPart):
    libelle: str | None = None
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    codePostal: str | None = None
    commune: str | None = Field(default=None, pattern=r"^(\d{5}|2[AB]\d{3})$", description="INSEE code")


class FranceTravailEntreprise(_FranceTravailPart):
    nom: str | None = Field(default=None, max_length=300)
    siret: str | None = Field(default=None, description="14 digits, checked (Luhn, python-stdnum)")

    @field_validator("siret")
    @classmethod
    def _valid_siret(cls, value: str | None) -> str | None:
        if value is None:
            return None
        compact = stdnum_siret.compact(value)
        if not stdnum_siret.is_valid(compact):
            raise ValueError("not a valid SIRET")
        return compact


class FranceTravailPermis(_FranceTravailPart):
    libelle: str | None = None
    exigence: str | None = Field(default=None, description="E: required, S: wished")


class FranceTravailCompetence(_FranceTravailPart):
    code: str | None = None
    libelle: str | None = None
    exigence: str | None = None


class FranceTravailOffre(_FranceTravailPart):
    """One offer of the Offres d'emploi v2 API, as far as matching reads it."""

    id: str = Field(min_length=1, max_length=100, description="France Travail's offer id: our external id")
    intitule: str = Field(min_length=1, max_length=300)
    romeCode: RomeCode | None = None
    lieuTravail: FranceTravailLieuTravail
    typeContrat: FranceTravailTypeContrat
    natureContrat: str | None = Field(default=None, description="e.g. Contrat apprentissage, CUI - PEC")
    dureeTravailLibelle: str | None = Field(default=None, description="e.g. 35H Horaires normaux")
    dureeTravailLibelleConverti: str | None = Field(default=None, description="Temps plein / Temps partiel")
    nombrePostes: int = Field(default=1, ge=1, le=1000)
    entreprise: FranceTravailEntreprise | None = None
    permis: list[FranceTravailPermis] = Field(default_factory=list)
    competences: list[FranceTravailCompetence] = Field(default_factory=list)
    conditionExercice: str | None = None
    complementExercice: str | None = None
    dateCreation: datetime | None = None
    dateActualisation: datetime | None = None


class FranceTravailOffrePublishedV1(FranceTravailOffre, EventData):
    """A France Travail offer was published. Applied like an import: created, or updated if known."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    ce_type: ClassVar[str] = "fr.francetravail.offre.published.v1"
    topic: ClassVar[str] = INBOUND_FRANCE_TRAVAIL_TOPIC
    aggregate: ClassVar[str] = "id"


class FranceTravailOffreUpdatedV1(FranceTravailOffre, EventData):
    """A France Travail offer changed (the whole offer again). Created if not known yet."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    ce_type: ClassVar[str] = "fr.francetravail.offre.updated.v1"
    topic: ClassVar[str] = INBOUND_FRANCE_TRAVAIL_TOPIC
    aggregate: ClassVar[str] = "id"


class FranceTravailOffreClosedV1(EventData):
    """A France Travail offer was withdrawn or filled at the source: the offer is closed here."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    ce_type: ClassVar[str] = "fr.francetravail.offre.closed.v1"
    topic: ClassVar[str] = INBOUND_FRANCE_TRAVAIL_TOPIC
    aggregate: ClassVar[str] = "id"

    id: str = Field(min_length=1, max_length=100)
    dateCloture: datetime | None = None


class FranceTravailJobSeekerRegisteredV1(EventData):
    """A job seeker registered with France Travail in the territory (pushed through the gateway's
    event intake or straight to the topic). What the insertion platform needs to reach out and
    orient: the France Travail identifier, the registration, where, what work is sought. No name,
    no NIR, no birth date."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    ce_type: ClassVar[str] = "fr.francetravail.demandeur.registered.v1"
    topic: ClassVar[str] = INBOUND_FRANCE_TRAVAIL_TOPIC
    aggregate: ClassVar[str] = "identifiant"

    identifiant: str = Field(min_length=1, max_length=100, description="France Travail's job seeker id")
    dateInscription: date
    categorie: Literal["A", "B", "C", "D", "E"] = Field(description="Catégorie de demandeur d'emploi")
    commune: str = Field(pattern=r"^(\d{5}|2[AB]\d{3})$", description="INSEE code of the place of residence",
                         json_schema_extra=personal("location"))  # fmt: skip
    latitude: float | None = Field(default=None, ge=-90, le=90, json_schema_extra=personal("location"))
    longitude: float | None = Field(default=None, ge=-180, le=180, json_schema_extra=personal("location"))
    romeCodes: list[RomeCode] = Field(default_factory=list, max_length=20, description="Jobs sought (ROME)")
    rsa: bool | None = Field(default=None, description="Beneficiary of the RSA, when France Travail knows it")
