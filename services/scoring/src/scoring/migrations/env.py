from relint.migrations import run_env
from scoring.models import ScoringTable

run_env(ScoringTable.metadata)
