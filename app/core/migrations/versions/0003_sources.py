"""documents.source: which ingest path (API uploads or one ingested folder) owns each document;
index_versions.detail: why a version failed

Revision ID: 0003_sources
Revises: 0002_service
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_sources"
down_revision = "0002_service"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("source", sa.String(600), nullable=False, server_default=""))
    with op.batch_alter_table("index_versions") as batch:
        batch.add_column(sa.Column("detail", sa.String(1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("index_versions") as batch:
        batch.drop_column("detail")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("source")
