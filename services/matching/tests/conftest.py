import pytest

from tremplin_matching.config import Settings
from tremplin_matching.main import create_app


@pytest.fixture(params=["sqlite", "postgres"])
async def matching_app(request, tmp_path, postgres):
    """The matching app (lifespan run: migrated, ranking index loaded; no background workers), on SQLite
    and on PostgreSQL."""
    url = f"sqlite+aiosqlite:///{tmp_path}/m.db" if request.param == "sqlite" else await postgres.create("matching")
    app = create_app(Settings(database_url=url, run_background_workers=False))
    async with app.router.lifespan_context(app):
        yield app
