"""`scoring serve | migrate`: the scoring service's command line."""

from relint.cli import service_cli
from scoring.main import MIGRATIONS, create_app
from scoring.settings import ScoringSettings

main = service_cli(
    "scoring", settings_factory=ScoringSettings, app_factory=create_app, migrations_dir=MIGRATIONS
)
