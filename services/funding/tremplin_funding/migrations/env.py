from tremplin_funding.adapters.orm import target_metadata
from tremplin_shared.migrations import run_env

run_env(target_metadata)
