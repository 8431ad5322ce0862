from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from tremplin_shared.settings import ComponentSettings

from .domain.ranking import DEFAULT_MAX_TRAVEL_KM, RankingRules, Weights


class Settings(ComponentSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHING_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/matching.db"
    # Ranking (DOMAIN.md §Matching): the weights of the score components, which must sum to 1.
    ranking_weight_skills: float = Field(default=0.5, ge=0, le=1)
    ranking_weight_proximity: float = Field(default=0.3, ge=0, le=1)
    ranking_weight_hours: float = Field(default=0.2, ge=0, le=1)
    # The max travel distance of a candidate who gave none; unset (empty) makes them not matchable.
    ranking_default_max_travel_km: float | None = Field(default=DEFAULT_MAX_TRAVEL_KM, ge=0)

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> "Settings":
        self.ranking_weights()  # raises ValueError, reported as a settings validation error
        return self

    def ranking_weights(self) -> Weights:
        return Weights(self.ranking_weight_skills, self.ranking_weight_proximity, self.ranking_weight_hours)

    def ranking_rules(self) -> RankingRules:
        return RankingRules(self.ranking_weights(), self.ranking_default_max_travel_km)
