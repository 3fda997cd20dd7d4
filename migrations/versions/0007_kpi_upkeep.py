"""KPI upkeep: each report's previous report at the same place, and check-in days per
officer and month, both kept by triggers

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# reports.prev_place_at: the reported_at of the previous report at the same place (same
# cell_id and category), merged duplicates left out, ties ordered by id; NULL for the first
# report of a place and for merged duplicates. A report is then a repeat (重复发生) in a
# period exactly when prev_place_at falls in that period (fieldapp.kpi.REPEAT_PLACE), so the
# KPI table counts repeats with one comparison per row instead of hashing every (cell,
# category) of the period per request (fieldapp.services.rollups.kpi_counts).
#
# Kept exact by triggers, whoever writes:
# - an insert looks up its predecessor (one probe of ix_reports_cell_reported) and hands its
#   own time to its successor (nobody, for a report filed now; a backdated one has one);
# - a change of what places a report (cell, category, time, merged or not) and a delete
#   recompute the place(s) concerned: a few dozen rows a year;
# - every write to a place first takes a transaction-level advisory lock on it, so two
#   phones filing at the same place at once see each other (PL/pgSQL statements each take a
#   new snapshot under READ COMMITTED, after the lock is granted).
# The recompute writes only prev_place_at, which no trigger watches: no recursion.
# The history generator (fieldapp.demo.history), which COPYs with triggers off, computes
# the same column itself.
_FUNCTIONS = """
CREATE FUNCTION reports_lock_place(p_cell integer, p_category text) RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(p_cell, hashtext(p_category)) $$;

CREATE FUNCTION reports_refresh_place(p_cell integer, p_category text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM reports_lock_place(p_cell, p_category);
    UPDATE reports AS r SET prev_place_at = w.prev
    FROM (
        SELECT id, CASE WHEN status = 'merged' THEN NULL ELSE lag(reported_at) OVER (
            PARTITION BY status = 'merged' ORDER BY reported_at, id) END AS prev
        FROM reports WHERE cell_id = p_cell AND category = p_category
    ) AS w
    WHERE r.id = w.id AND r.prev_place_at IS DISTINCT FROM w.prev;
END $$;

CREATE FUNCTION reports_place_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.prev_place_at := NULL;
    IF NEW.status <> 'merged' THEN
        PERFORM reports_lock_place(NEW.cell_id, NEW.category);
        SELECT max(reported_at) INTO NEW.prev_place_at FROM reports
        WHERE cell_id = NEW.cell_id AND category = NEW.category AND status <> 'merged'
          AND (reported_at, id) < (NEW.reported_at, NEW.id);
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION reports_place_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> 'merged' THEN
        UPDATE reports SET prev_place_at = NEW.reported_at
        WHERE id = (
            SELECT id FROM reports
            WHERE cell_id = NEW.cell_id AND category = NEW.category AND status <> 'merged'
              AND (reported_at, id) > (NEW.reported_at, NEW.id)
            ORDER BY reported_at, id LIMIT 1);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION reports_place_after_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM reports_refresh_place(OLD.cell_id, OLD.category);
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.cell_id, NEW.category) IS DISTINCT FROM
            (OLD.cell_id, OLD.category) THEN
        PERFORM reports_refresh_place(NEW.cell_id, NEW.category);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER reports_place_before_insert BEFORE INSERT ON reports
    FOR EACH ROW EXECUTE FUNCTION reports_place_before_insert();
CREATE TRIGGER reports_place_after_insert AFTER INSERT ON reports
    FOR EACH ROW EXECUTE FUNCTION reports_place_after_insert();
CREATE TRIGGER reports_place_after_update AFTER UPDATE OF cell_id, category, reported_at, status
    ON reports FOR EACH ROW
    WHEN ((OLD.cell_id, OLD.category, OLD.reported_at, OLD.status = 'merged')
          IS DISTINCT FROM (NEW.cell_id, NEW.category, NEW.reported_at, NEW.status = 'merged'))
    EXECUTE FUNCTION reports_place_after_change();
CREATE TRIGGER reports_place_after_delete AFTER DELETE ON reports
    FOR EACH ROW EXECUTE FUNCTION reports_place_after_change();
"""

# checkin_months: check-in days per officer and calendar month, for 零报告 compliance
# (fieldapp.services.rollups.checkin_counts adds up whole months from here and counts only
# the days at a period's edges). Kept in the check-in's own transaction; an upsert per new
# check-in (a repeat check-in of the same day updates its row and changes nothing here).
_CHECKIN_FUNCTIONS = """
CREATE FUNCTION checkin_months_add(p_officer integer, p_day date, p_days integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO checkin_months AS m (officer_id, month, days)
    VALUES (p_officer, date_trunc('month', p_day)::date, p_days)
    ON CONFLICT (officer_id, month) DO UPDATE SET days = m.days + EXCLUDED.days
$$;

CREATE FUNCTION checkins_months_after_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM checkin_months_add(OLD.officer_id, OLD.day, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM checkin_months_add(NEW.officer_id, NEW.day, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER checkins_months_after_write AFTER INSERT OR DELETE ON checkins
    FOR EACH ROW EXECUTE FUNCTION checkins_months_after_change();
CREATE TRIGGER checkins_months_after_update AFTER UPDATE OF officer_id, day ON checkins
    FOR EACH ROW WHEN ((OLD.officer_id, OLD.day) IS DISTINCT FROM (NEW.officer_id, NEW.day))
    EXECUTE FUNCTION checkins_months_after_change();
"""

_STATS_INCLUDE = [
    "cell_id",
    "village_id",
    "township_id",
    "county_id",
    "category",
    "severity",
    "status",
    "due_at",
    "kpi_code",
]


def upgrade() -> None:
    op.create_table(
        "checkin_months",
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.CheckConstraint("extract(day FROM month) = 1", name=op.f("ck_checkin_months_first_day")),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["users.id"], name=op.f("fk_checkin_months_officer_id_users")
        ),
        sa.PrimaryKeyConstraint("officer_id", "month", name=op.f("pk_checkin_months")),
    )
    op.execute(
        "INSERT INTO checkin_months (officer_id, month, days) "
        "SELECT officer_id, date_trunc('month', day)::date, count(*) FROM checkins "
        "GROUP BY 1, 2"
    )
    op.execute(_CHECKIN_FUNCTIONS)
    op.add_column("reports", sa.Column("prev_place_at", sa.DateTime(timezone=True)))
    # The reports already stored: one pass with a window function.
    op.execute(
        """
        UPDATE reports AS r SET prev_place_at = w.prev
        FROM (
            SELECT id, lag(reported_at) OVER (
                PARTITION BY cell_id, category ORDER BY reported_at, id) AS prev
            FROM reports WHERE status <> 'merged'
        ) AS w
        WHERE r.id = w.id AND w.prev IS NOT NULL
        """
    )
    op.execute(_FUNCTIONS)
    # The KPI counts read it from the covering index (index-only scan).
    op.drop_index("ix_reports_reported_stats", table_name="reports")
    op.create_index(
        "ix_reports_reported_stats",
        "reports",
        ["reported_at"],
        postgresql_include=[*_STATS_INCLUDE, "prev_place_at"],
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER checkins_months_after_write ON checkins")
    op.execute("DROP TRIGGER checkins_months_after_update ON checkins")
    op.execute("DROP FUNCTION checkins_months_after_change()")
    op.execute("DROP FUNCTION checkin_months_add(integer, date, integer)")
    op.drop_table("checkin_months")
    op.drop_index("ix_reports_reported_stats", table_name="reports")
    op.create_index(
        "ix_reports_reported_stats", "reports", ["reported_at"], postgresql_include=_STATS_INCLUDE
    )
    for trigger in (
        "reports_place_before_insert",
        "reports_place_after_insert",
        "reports_place_after_update",
        "reports_place_after_delete",
    ):
        op.execute(f"DROP TRIGGER {trigger} ON reports")
    for function in (
        "reports_place_before_insert()",
        "reports_place_after_insert()",
        "reports_place_after_change()",
        "reports_refresh_place(integer, text)",
        "reports_lock_place(integer, text)",
    ):
        op.execute(f"DROP FUNCTION {function}")
    op.drop_column("reports", "prev_place_at")
