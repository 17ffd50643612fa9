"""Schema migrations through Alembic, run from code so `digest db upgrade` works from a wheel."""

from alembic import command
from alembic.config import Config

from digest.config import get_settings
from digest.resources import resource_dir


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    # '%' is ConfigParser interpolation syntax; a password may contain it.
    url = database_url or get_settings().DATABASE_URL
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
