from pydantic_settings import SettingsConfigDict

from tremplin_shared.settings import ComponentSettings


class Settings(ComponentSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHING_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/matching.db"
