"""inbox.processed_at indexed: the retention purge deletes the inbox rows older than
INBOX_RETENTION_DAYS in batches along it (tremplin_shared/messaging/retention.py)

Revision ID: 0006
Revises: 0005
"""

from tremplin_shared.messaging.tables import create_inbox_retention_index, drop_inbox_retention_index

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_inbox_retention_index()


def downgrade() -> None:
    drop_inbox_retention_index()
