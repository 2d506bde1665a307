"""`playbook serve | migrate`: the playbook service's command line."""

from playbook.main import MIGRATIONS, create_app
from playbook.settings import PlaybookSettings
from relint.cli import service_cli

main = service_cli(
    "playbook", settings_factory=PlaybookSettings, app_factory=create_app, migrations_dir=MIGRATIONS
)
