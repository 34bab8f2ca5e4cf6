"""retention locks: one pad per tip, case and reward claim (crypto-shredding)

Revision ID: 7b1c2d3e4f50
Revises: e148f2416057
Create Date: 2026-05-01 00:00:00

Subjects stored before this revision get a lock without a pad (epoch "legacy"): their
content stays encrypted under the raw key, and the purge deletes their rows like any other
(see docs/retention.md: old backups of legacy subjects are not crypto-shredded).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7b1c2d3e4f50'
down_revision = 'e148f2416057'
branch_labels = None
depends_on = None

_BACKFILL = (
    "INSERT INTO retention_locks (subject_kind, subject_id, epoch, created_at) "
    "SELECT 'tip', id, 'legacy', CURRENT_TIMESTAMP FROM tips",
    "INSERT INTO retention_locks (subject_kind, subject_id, epoch, created_at) "
    "SELECT 'case', id, 'legacy', CURRENT_TIMESTAMP FROM cases",
    "INSERT INTO retention_locks (subject_kind, subject_id, epoch, created_at) "
    "SELECT 'reward', id, 'legacy', CURRENT_TIMESTAMP FROM rewards "
    "WHERE claim_sealed IS NOT NULL",
)


def upgrade():
    op.create_table('retention_locks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_kind', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.String(length=16), nullable=False),
    sa.Column('wrapped_pad', sa.LargeBinary(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('warned_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_locks')),
    sa.UniqueConstraint('subject_kind', 'subject_id', name='uq_retention_locks_subject')
    )
    with op.batch_alter_table('retention_locks', schema=None) as batch_op:
        batch_op.create_index('ix_retention_locks_epoch', ['epoch'], unique=False)
        batch_op.create_index('ix_retention_locks_expires_on', ['expires_on'], unique=False)
    for sql in _BACKFILL:
        op.execute(sql)


def downgrade():
    with op.batch_alter_table('retention_locks', schema=None) as batch_op:
        batch_op.drop_index('ix_retention_locks_expires_on')
        batch_op.drop_index('ix_retention_locks_epoch')

    op.drop_table('retention_locks')
