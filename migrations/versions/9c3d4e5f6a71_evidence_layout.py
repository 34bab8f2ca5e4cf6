"""evidence layout: new files bind their content to the stored name (one-pass uploads)

Revision ID: 9c3d4e5f6a71
Revises: 7b1c2d3e4f50
Create Date: 2026-11-23 00:00:00

Evidence stored before this revision keeps layout 1 (content bound to the row id); uploads
from now on are encrypted into the store while the request is parsed, before the row has an
id, so their content is bound to the case and the stored name (layout 2). Downgrading would make
those files unreadable, so it is refused while any exist.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9c3d4e5f6a71'
down_revision = '7b1c2d3e4f50'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('case_evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('layout', sa.SmallInteger(), server_default='1',
                                      nullable=False))


def downgrade():
    newer = op.get_bind().execute(
        sa.text("SELECT count(*) FROM case_evidence WHERE layout <> 1")).scalar()
    if newer:
        raise RuntimeError(
            f"{newer} evidence file(s) are bound to their stored name (layout 2) and could "
            "not be opened after this downgrade; restore a backup from before the upgrade "
            "instead")
    with op.batch_alter_table('case_evidence', schema=None) as batch_op:
        batch_op.drop_column('layout')
