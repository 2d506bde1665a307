from ingest.models import IngestTable
from relint.migrations import run_env

run_env(IngestTable.metadata)
