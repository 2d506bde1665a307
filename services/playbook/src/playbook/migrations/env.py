from playbook.models import PlaybookTable
from relint.migrations import run_env

run_env(PlaybookTable.metadata)
