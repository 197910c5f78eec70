"""CRM core: users, teams, accounts, contacts, leads, pipelines, deals, history, activities, quotas, forecasts, audit.

Revision ID: 63dbfd3e0d48
Revises:
Create Date: 2026-11-26 23:01:04.591885
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import topline.storage.types

revision: str = "63dbfd3e0d48"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("fiscal_year_start_month", sa.Integer(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint(
            "fiscal_year_start_month BETWEEN 1 AND 12", name=op.f("ck_organizations_fiscal_month")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_table(
        "pipelines",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
        sa.UniqueConstraint("name", name=op.f("uq_pipelines_name")),
    )
    op.create_table(
        "teams",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "manager_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["teams.id"], name=op.f("fk_teams_parent_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teams_manager_id"), ["manager_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_teams_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "stages",
        sa.Column(
            "pipeline_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "open",
                "won",
                "lost",
                name="stage_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint(
            "probability >= 0 AND probability <= 1", name=op.f("ck_stages_probability_range")
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name=op.f("fk_stages_pipeline_id_pipelines")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stages")),
        sa.UniqueConstraint("pipeline_id", "name", name=op.f("uq_stages_pipeline_id_name")),
        sa.UniqueConstraint("pipeline_id", "position", name=op.f("uq_stages_pipeline_id_position")),
    )
    op.create_table(
        "users",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "manager",
                "rep",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "manager_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("hired_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("left_at", topline.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["manager_id"], ["users.id"], name=op.f("fk_users_manager_id_users")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_users_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_manager_id"), ["manager_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_users_team_id"), ["team_id"], unique=False)

    # teams and users reference each other: the manager link is added once both exist.
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_teams_manager_id_users"), "users", ["manager_id"], ["id"]
        )

    op.create_table(
        "accounts",
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column(
            "segment",
            sa.Enum(
                "smb",
                "mid_market",
                "enterprise",
                name="segment",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("employees", sa.Integer(), nullable=True),
        sa.Column("annual_revenue_cents", sa.BigInteger(), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("postal_code", sa.String(length=20), nullable=True),
        sa.Column("territory", sa.String(length=100), nullable=True),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint(
            "employees IS NULL OR employees >= 0", name=op.f("ck_accounts_employees_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_accounts_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_domain"), ["domain"], unique=False)
        batch_op.create_index(batch_op.f("ix_accounts_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_accounts_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_accounts_region"), ["region"], unique=False)
        batch_op.create_index(batch_op.f("ix_accounts_territory"), ["territory"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_audit_log_actor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index("ix_audit_log_entity", ["entity_type", "entity_id"], unique=False)

    op.create_table(
        "forecast_submissions",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "submitted_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("commit_cents", sa.BigInteger(), nullable=False),
        sa.Column("best_case_cents", sa.BigInteger(), nullable=False),
        sa.Column("pipeline_cents", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("submitted_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint(
            "commit_cents >= 0 AND best_case_cents >= 0 AND pipeline_cents >= 0",
            name=op.f("ck_forecast_submissions_amounts_non_negative"),
        ),
        sa.CheckConstraint(
            "period_end > period_start", name=op.f("ck_forecast_submissions_period_order")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["users.id"],
            name=op.f("fk_forecast_submissions_submitted_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_forecast_submissions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_submissions")),
    )
    with op.batch_alter_table("forecast_submissions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_forecast_submissions_submitted_by_id"), ["submitted_by_id"], unique=False
        )
        batch_op.create_index(
            "ix_forecast_submissions_user_period",
            ["user_id", "period_start", "submitted_at"],
            unique=False,
        )

    op.create_table(
        "quotas",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("team_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (team_id IS NULL)", name=op.f("ck_quotas_exactly_one_owner")
        ),
        sa.CheckConstraint("amount_cents >= 0", name=op.f("ck_quotas_amount_non_negative")),
        sa.CheckConstraint("period_end > period_start", name=op.f("ck_quotas_period_order")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_quotas_team_id_teams")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_quotas_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotas")),
    )
    with op.batch_alter_table("quotas", schema=None) as batch_op:
        batch_op.create_index("ix_quotas_team_period", ["team_id", "period_start"], unique=True)
        batch_op.create_index("ix_quotas_user_period", ["user_id", "period_start"], unique=True)

    op.create_table(
        "contacts",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column(
            "buying_role",
            sa.Enum(
                "decision_maker",
                "champion",
                "influencer",
                "blocker",
                "user",
                name="buying_role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("created_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_contacts_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contacts_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contacts_email"), ["email"], unique=False)

    op.create_table(
        "deals",
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "pipeline_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("stage_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("recurring_amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("close_date", sa.Date(), nullable=False),
        sa.Column(
            "forecast_category",
            sa.Enum(
                "pipeline",
                "best_case",
                "commit",
                "closed",
                "omitted",
                name="forecast_category",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "type",
            sa.Enum(
                "new_business",
                "expansion",
                "renewal",
                name="deal_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=50), nullable=True),
        sa.Column("loss_reason", sa.String(length=200), nullable=True),
        sa.Column("next_step", sa.String(length=500), nullable=True),
        sa.Column("created_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", topline.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint("amount_cents >= 0", name=op.f("ck_deals_amount_non_negative")),
        sa.CheckConstraint(
            "recurring_amount_cents IS NULL OR recurring_amount_cents >= 0",
            name=op.f("ck_deals_recurring_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_deals_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_deals_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_deals_owner_id_users")),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name=op.f("fk_deals_pipeline_id_pipelines")
        ),
        sa.ForeignKeyConstraint(["stage_id"], ["stages.id"], name=op.f("fk_deals_stage_id_stages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deals")),
    )
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deals_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deals_close_date"), ["close_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_deals_closed_at"), ["closed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_deals_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_deals_owner_stage", ["owner_id", "stage_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deals_stage_id"), ["stage_id"], unique=False)

    op.create_table(
        "deal_history",
        sa.Column("deal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("valid_from", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_to", topline.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "changed_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("changed_fields", sa.String(length=100), nullable=False),
        sa.Column("stage_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("close_date", sa.Date(), nullable=False),
        sa.Column(
            "forecast_category",
            sa.Enum(
                "pipeline",
                "best_case",
                "commit",
                "closed",
                "omitted",
                name="forecast_category",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from",
            name=op.f("ck_deal_history_interval_order"),
        ),
        sa.ForeignKeyConstraint(
            ["changed_by_id"], ["users.id"], name=op.f("fk_deal_history_changed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_deal_history_deal_id_deals")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_deal_history_owner_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"], ["stages.id"], name=op.f("fk_deal_history_stage_id_stages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_history")),
    )
    with op.batch_alter_table("deal_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deal_history_as_of",
            [
                "close_date",
                "valid_from",
                "valid_to",
                "deal_id",
                "stage_id",
                "amount_cents",
                "owner_id",
            ],
            unique=False,
        )
        batch_op.create_index(
            "ix_deal_history_deal_valid_from", ["deal_id", "valid_from"], unique=False
        )
        batch_op.create_index(
            "uq_deal_history_current",
            ["deal_id"],
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )

    op.create_table(
        "leads",
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("company", sa.String(length=300), nullable=False),
        sa.Column("company_domain", sa.String(length=255), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("employees", sa.Integer(), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "new",
                "working",
                "mql",
                "sql",
                "converted",
                "disqualified",
                name="lead_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("bant_budget", sa.Boolean(), nullable=False),
        sa.Column("bant_authority", sa.Boolean(), nullable=False),
        sa.Column("bant_need", sa.Boolean(), nullable=False),
        sa.Column("bant_timeline", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("mql_at", topline.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sql_at", topline.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("converted_at", topline.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "disqualified_at", topline.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("disqualification_reason", sa.String(length=200), nullable=True),
        sa.Column(
            "converted_account_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "converted_contact_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "converted_deal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["converted_account_id"],
            ["accounts.id"],
            name=op.f("fk_leads_converted_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["converted_contact_id"],
            ["contacts.id"],
            name=op.f("fk_leads_converted_contact_id_contacts"),
        ),
        sa.ForeignKeyConstraint(
            ["converted_deal_id"], ["deals.id"], name=op.f("fk_leads_converted_deal_id_deals")
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_leads_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_leads_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_source"), ["source"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_status"), ["status"], unique=False)

    op.create_table(
        "activities",
        sa.Column(
            "type",
            sa.Enum(
                "call",
                "email",
                "meeting",
                "note",
                "task",
                name="activity_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("occurred_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("deal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=100), nullable=True),
        sa.Column("email_opened", sa.Boolean(), nullable=True),
        sa.Column("email_clicked", sa.Boolean(), nullable=True),
        sa.Column("email_replied", sa.Boolean(), nullable=True),
        sa.Column("created_at", topline.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint(
            "duration_minutes IS NULL OR duration_minutes >= 0",
            name=op.f("ck_activities_duration_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_activities_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_activities_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_activities_deal_id_deals")
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_activities_lead_id_leads")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_activities_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activities_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_deal_id"), ["deal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(
            "ix_activities_user_occurred", ["user_id", "occurred_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index("ix_activities_user_occurred")
        batch_op.drop_index(batch_op.f("ix_activities_lead_id"))
        batch_op.drop_index(batch_op.f("ix_activities_deal_id"))
        batch_op.drop_index(batch_op.f("ix_activities_contact_id"))
        batch_op.drop_index(batch_op.f("ix_activities_account_id"))

    op.drop_table("activities")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_status"))
        batch_op.drop_index(batch_op.f("ix_leads_source"))
        batch_op.drop_index(batch_op.f("ix_leads_owner_id"))
        batch_op.drop_index(batch_op.f("ix_leads_email"))
        batch_op.drop_index(batch_op.f("ix_leads_created_at"))

    op.drop_table("leads")
    with op.batch_alter_table("deal_history", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_deal_history_current",
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.drop_index("ix_deal_history_deal_valid_from")
        batch_op.drop_index("ix_deal_history_as_of")

    op.drop_table("deal_history")
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deals_stage_id"))
        batch_op.drop_index("ix_deals_owner_stage")
        batch_op.drop_index(batch_op.f("ix_deals_created_at"))
        batch_op.drop_index(batch_op.f("ix_deals_closed_at"))
        batch_op.drop_index(batch_op.f("ix_deals_close_date"))
        batch_op.drop_index(batch_op.f("ix_deals_account_id"))

    op.drop_table("deals")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_email"))
        batch_op.drop_index(batch_op.f("ix_contacts_account_id"))

    op.drop_table("contacts")
    with op.batch_alter_table("quotas", schema=None) as batch_op:
        batch_op.drop_index("ix_quotas_user_period")
        batch_op.drop_index("ix_quotas_team_period")

    op.drop_table("quotas")
    with op.batch_alter_table("forecast_submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_forecast_submissions_user_period")
        batch_op.drop_index(batch_op.f("ix_forecast_submissions_submitted_by_id"))

    op.drop_table("forecast_submissions")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_entity")
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor_id"))

    op.drop_table("audit_log")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_territory"))
        batch_op.drop_index(batch_op.f("ix_accounts_region"))
        batch_op.drop_index(batch_op.f("ix_accounts_owner_id"))
        batch_op.drop_index(batch_op.f("ix_accounts_name"))
        batch_op.drop_index(batch_op.f("ix_accounts_domain"))

    op.drop_table("accounts")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_teams_manager_id_users"), type_="foreignkey")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_team_id"))
        batch_op.drop_index(batch_op.f("ix_users_manager_id"))

    op.drop_table("users")
    op.drop_table("stages")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teams_parent_id"))
        batch_op.drop_index(batch_op.f("ix_teams_manager_id"))

    op.drop_table("teams")
    op.drop_table("pipelines")
    op.drop_table("organizations")
