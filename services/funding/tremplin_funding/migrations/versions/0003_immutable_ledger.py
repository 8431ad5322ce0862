"""the ledger is append-only: the database refuses UPDATE and DELETE on it (PostgreSQL and SQLite)

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MESSAGE = "ledger rows are immutable: record a new movement instead"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$""")
        op.execute("""CREATE TRIGGER ledger_no_update_or_delete BEFORE UPDATE OR DELETE ON ledger
                      FOR EACH ROW EXECUTE FUNCTION ledger_immutable()""")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER ledger_no_{action.lower()} BEFORE {action} ON ledger
                           BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_no_update_or_delete ON ledger")
        op.execute("DROP FUNCTION ledger_immutable()")
    else:
        op.execute("DROP TRIGGER ledger_no_update")
        op.execute("DROP TRIGGER ledger_no_delete")
