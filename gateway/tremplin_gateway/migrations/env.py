from tremplin_gateway.adapters.orm import target_metadata
from tremplin_shared.migrations import run_env

run_env(target_metadata)
