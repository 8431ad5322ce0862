"""A participant: a person followed by the territory's insertion actors. Pure rules, no I/O."""

import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from tremplin_shared.events import ParticipantFlags, ParticipantRegisteredV1

from .flags import Situation, compute_flags

ERASED = "ERASED"
# The fields a participant's situation is made of (what the flags are computed from).
SITUATION_FIELDS = ("rsa", "unemployed_since", "job_seeker_registered", "rqth", "qpv", "education_level",
                    "siae_employee")  # fmt: skip


class InvalidParticipant(ValueError):
    """A rule of the domain refused a value; `field` names it as the API's error paths do."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def search_key(*names: str) -> str:
    """Names folded for searching: lower case, no accents, single spaces ("Hélène  Dupré" → "helene dupre")."""
    text = unicodedata.normalize("NFKD", " ".join(names))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.casefold().split())


@dataclass
class Participant:
    tenant: str
    first_name: str
    last_name: str
    birth_date: date
    sex: str
    latitude: float
    longitude: float
    skills: list[str]
    # Keyed hash of the NIR (domain/nir.py): the NIR itself is not kept.
    nir_hash: str | None = None
    # France Travail's job seeker id (set by an accepted orientation); unique per tenant.
    france_travail_id: str | None = None
    email: str | None = None
    phone: str | None = None
    address_line: str | None = None
    commune_insee: str | None = None
    rsa: bool = False
    unemployed_since: date | None = None
    job_seeker_registered: bool = False
    rqth: bool = False
    qpv: bool = False
    education_level: str | None = None
    driving_licence: bool = False
    vehicle: bool = False
    childcare_need: bool = False
    siae_employee: bool = False
    consent_matching: bool = False
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    registered_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime | None = None
    erased_at: datetime | None = None

    def __post_init__(self) -> None:
        # The same skill twice means nothing more; keep the declared order.
        self.skills = list(dict.fromkeys(self.skills))
        if self.erased_at is None:
            self._check()

    def _check(self) -> None:
        if self.birth_date >= self.registered_at.date():
            raise InvalidParticipant("birth_date", "birth_date must be in the past")
        if self.birth_date.year < 1900:
            raise InvalidParticipant("birth_date", "birth_date must be in 1900 or later")
        if self.unemployed_since is not None and self.unemployed_since < self.birth_date:
            raise InvalidParticipant("unemployed_since", "unemployed_since must not be before the birth date")

    def check_not_in_future(self, today: date) -> None:
        """Dates the person declares are facts: none may be after the day they are recorded."""
        if self.unemployed_since is not None and self.unemployed_since > today:
            raise InvalidParticipant("unemployed_since", "unemployed_since must not be in the future")

    def change(self, changes: dict, at: datetime, today: date) -> set[str]:
        """Apply a partial update at `at` (`today`: that day where the person lives); returns the
        names of the fields whose value changed."""
        changed = {name for name, value in changes.items() if getattr(self, name) != value}
        for name in changed:
            setattr(self, name, changes[name])
        if changed:
            self.skills = list(dict.fromkeys(self.skills))
            self.updated_at = at
            self._check()
            self.check_not_in_future(today)
        return changed

    @property
    def erased(self) -> bool:
        return self.erased_at is not None

    @property
    def has_nir(self) -> bool:
        return self.nir_hash is not None

    @property
    def search_name(self) -> str | None:
        # NFKD may lengthen a name (ligatures: "ﬁ" → "fi"): cut to the column's 201 characters.
        return None if self.erased else search_key(self.last_name, self.first_name)[:201]

    @property
    def situation(self) -> Situation:
        return Situation(**{name: getattr(self, name) for name in SITUATION_FIELDS})

    def flags(self, at: date) -> ParticipantFlags:
        return compute_flags(self.situation, self.birth_date, at)

    def registered_event(self) -> ParticipantRegisteredV1:
        """What other services learn: no names, no birth date — ids, location, skills."""
        return ParticipantRegisteredV1(
            participant_id=self.id,
            registered_at=self.registered_at,
            latitude=self.latitude,
            longitude=self.longitude,
            skills=self.skills,
        )

    def erase(self, at: datetime) -> None:
        """The right to erasure: what identifies the person goes, what the statistics need stays.

        Gone: names ("ERASED"), contact, address line, NIR hash, France Travail id, skills, consent,
        exact coordinates (rounded to 2 decimals, about a kilometre: the commune, which latitude/longitude NOT NULL
        requires anyway). Coarsened: the birth date becomes 1 July of the birth year (age bands
        and youth/senior counts stay right to within a year), unemployed_since the 1st of its
        month. Kept: sex, commune INSEE code and the declared situation (publics: rsa, rqth, qpv,
        education level...), which the reports count by; the parcours, transitions and exits.
        """
        self.first_name = self.last_name = ERASED
        self.birth_date = date(self.birth_date.year, 7, 1)
        self.email = self.phone = self.address_line = self.nir_hash = self.france_travail_id = None
        self.latitude = round(self.latitude, 2)
        self.longitude = round(self.longitude, 2)
        self.skills = []
        self.consent_matching = False
        if self.unemployed_since is not None:
            self.unemployed_since = self.unemployed_since.replace(day=1)
        self.updated_at = self.erased_at = at
