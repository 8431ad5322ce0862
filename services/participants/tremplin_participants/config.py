from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tremplin_shared.settings import ComponentSettings


class Settings(ComponentSettings):
    model_config = SettingsConfigDict(env_prefix="PARTICIPANTS_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/participants.db"
    # How often the 183-day rule runs (a pass also runs at start).
    durable_exit_interval_seconds: float = Field(default=3600.0, gt=0)
    # How often the flags crossing a threshold (12/24 months unemployed, 26th/50th birthday) are sent.
    flags_refresh_interval_seconds: float = Field(default=3600.0, gt=0)
    # Key of the HMAC-SHA256 under which NIRs are stored (domain/nir.py). Set a long random value in
    # production and never change it: the hashes of the NIRs already stored would no longer match.
    nir_hash_key: str = "dev-nir-hash-key-change-me"
