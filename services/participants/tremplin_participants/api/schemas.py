"""Request and response bodies of the participants API (also the CSV import's row schema)."""

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
)

from tremplin_shared.events.contracts import ParticipantFlags, RomeCode

from ..domain.nir import InvalidNir, validate_nir

# Names: no control character (PostgreSQL text holds no NUL; a tab or a newline in a name is a paste
# accident); addresses: newlines only.
_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=_NO_CONTROL)]
EducationLevel = Literal["below_cap", "cap_bep", "bac", "bac_plus_2", "bac_plus_3_or_more"]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
Skills = Annotated[list[RomeCode], Field(max_length=50, description="ROME codes, e.g. K2204")]
_EMAIL = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=_EMAIL)]
_LINES = r"^[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f]*$"  # an address may run over two lines
AddressLine = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300, pattern=_LINES)]
CommuneInsee = Annotated[
    str,
    BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v),  # 2a004 → 2A004
    StringConstraints(pattern=r"^(\d{5}|2[AB]\d{3})$"),
    Field(description="Code officiel géographique of the commune (5 characters, 2A/2B for Corsica), e.g. 41018"),
]


def _phone(value: str) -> str:
    compact = re.sub(r"[\s.\-()]", "", value)
    if not re.fullmatch(r"\+\d{8,15}|0\d{9}", compact):
        raise ValueError("a phone number is 10 digits starting with 0, or + and 8 to 15 digits")
    return compact


def _nir(value: SecretStr) -> SecretStr:
    try:
        return SecretStr(validate_nir(value.get_secret_value()))
    except InvalidNir as exc:
        raise ValueError(str(exc)) from None  # the message never repeats the number


Phone = Annotated[str, StringConstraints(max_length=30), AfterValidator(_phone)]
# Write-only, masked in any repr; validated (stdnum) and replaced by its keyed hash before storage.
Nir = Annotated[
    SecretStr,
    AfterValidator(_nir),
    Field(description="NIR (numéro de sécurité sociale), 15 characters with the key; never returned"),
]


class ParticipantIn(BaseModel):
    """A participant to register. Flat: the same fields are the columns of the CSV import."""

    model_config = ConfigDict(extra="forbid")

    # identity
    first_name: Name
    last_name: Name
    birth_date: date
    sex: Literal["F", "M"]
    nir: Nir | None = None
    # contact and address
    email: Email | None = None
    phone: Phone | None = None
    address_line: AddressLine | None = None
    commune_insee: CommuneInsee | None = None
    latitude: Latitude
    longitude: Longitude
    # situation
    rsa: bool = False
    unemployed_since: date | None = None
    job_seeker_registered: bool = False
    rqth: bool = False
    qpv: bool = False
    education_level: EducationLevel | None = Field(
        default=None, description="below_cap = no qualification (below CAP/BEP)"
    )
    driving_licence: bool = False
    vehicle: bool = False
    childcare_need: bool = False
    siae_employee: bool = Field(default=False, description="currently employed by an SIAE (IAE structure)")
    consent_matching: bool = Field(default=False, description="agrees to be proposed on job offers")
    skills: Skills = Field(default_factory=list)


REQUIRED_NOT_NULL = ("first_name", "last_name", "birth_date", "sex", "latitude", "longitude", "skills", "rsa",
                     "job_seeker_registered", "rqth", "qpv", "driving_licence", "vehicle", "childcare_need",
                     "siae_employee", "consent_matching")  # fmt: skip


class ParticipantPatch(BaseModel):
    """A partial update: only the fields present change; `null` clears an optional field (`nir`: null
    removes the NIR)."""

    model_config = ConfigDict(extra="forbid")

    first_name: Name | None = None
    last_name: Name | None = None
    birth_date: date | None = None
    sex: Literal["F", "M"] | None = None
    nir: Nir | None = None
    email: Email | None = None
    phone: Phone | None = None
    address_line: AddressLine | None = None
    commune_insee: CommuneInsee | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    rsa: bool | None = None
    unemployed_since: date | None = None
    job_seeker_registered: bool | None = None
    rqth: bool | None = None
    qpv: bool | None = None
    education_level: EducationLevel | None = None
    driving_licence: bool | None = None
    vehicle: bool | None = None
    childcare_need: bool | None = None
    siae_employee: bool | None = None
    consent_matching: bool | None = None
    skills: Skills | None = None

    @field_validator(*REQUIRED_NOT_NULL)
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class ParticipantOut(BaseModel):
    id: uuid.UUID
    first_name: str
    last_name: str
    birth_date: date
    sex: str
    has_nir: bool = Field(description="A NIR was given (only its keyed hash is stored; it is never returned)")
    email: str | None
    phone: str | None
    address_line: str | None
    commune_insee: str | None
    latitude: float
    longitude: float
    rsa: bool
    unemployed_since: date | None
    job_seeker_registered: bool
    rqth: bool
    qpv: bool
    education_level: str | None
    driving_licence: bool
    vehicle: bool
    childcare_need: bool
    siae_employee: bool
    consent_matching: bool
    skills: list[str]
    france_travail_id: str | None = Field(
        default=None, description="France Travail's job seeker id, when the participant came from an orientation"
    )
    flags: ParticipantFlags = Field(description="Publics computed at `flags.computed_on` (today, or `?at=`)")
    registered_at: datetime
    updated_at: datetime | None


class ParticipantPage(BaseModel):
    items: list[ParticipantOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class AccessLogEntry(BaseModel):
    id: uuid.UUID
    participant_id: uuid.UUID
    subject: str = Field(description="Who: the caller's subject as the gateway signed it (API key, user)")
    action: str
    request_id: str | None
    at: datetime


class AccessLogPage(BaseModel):
    items: list[AccessLogEntry]
    next_cursor: str | None
