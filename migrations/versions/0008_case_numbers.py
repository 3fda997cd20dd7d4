"""Case numbers people can say on the phone: 东港-2026-000123, one sequence per county-level
unit and year, assigned by the database at insert

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The number is <prefix>-<year>-<sequence>:
# - prefix: the county-level unit's short name, the way people say it: 东港区 → 东港,
#   五莲县 → 五莲, but 莒县 stays 莒县 (one character is not a name); the two zones by their
#   usual short names, 日照经济技术开发区 → 经开区 and 山海天旅游度假区 → 山海天. A report
#   whose county is not known (never by the app's intake, which locates every report, but a
#   row written by hand) gets 未定 rather than no number at all.
# - year: the China-time year the report was received (reported_at), as the paper registers
#   number them;
# - sequence: 1, 2, 3 … per (prefix, year), six digits, more when a year needs them. Kept in
#   case_number_counters by an upsert in the inserting transaction: gap-free (a rolled-back
#   report gives its number back), and two phones filing in the same county at once wait
#   for each other only for the rest of the insert's transaction.
#
# Every writer gets one: the trigger fires for the app's intake, the fast intake path, and
# the history generator's COPY (ENABLE ALWAYS: it fires under session_replication_role =
# replica too, which the loader uses to skip the per-row foreign-key checks).
_FUNCTIONS = """
CREATE FUNCTION case_number_prefix(p_county integer) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT COALESCE((
        SELECT CASE
            WHEN a.name LIKE '%经济技术开发区' THEN '经开区'
            WHEN a.name LIKE '%旅游度假区' THEN left(a.name, -5)
            WHEN char_length(a.name) > 2 AND right(a.name, 1) IN ('区', '县', '市')
                THEN left(a.name, -1)
            ELSE a.name
        END
        FROM areas AS a WHERE a.id = p_county), '未定')
$$;

CREATE FUNCTION case_number_next(p_prefix text, p_year integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    INSERT INTO case_number_counters AS c (prefix, year, last_number)
    VALUES (p_prefix, p_year, 1)
    ON CONFLICT (prefix, year) DO UPDATE SET last_number = c.last_number + 1
    RETURNING c.last_number INTO n;
    RETURN p_prefix || '-' || p_year || '-' || lpad(n::text, greatest(6, length(n::text)), '0');
END $$;

CREATE FUNCTION reports_case_number() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A phone's resend of a stored report (INSERT … ON CONFLICT (id) DO NOTHING) must not
    -- use up a number: BEFORE triggers run before the conflict is found, so it carries the
    -- stored row's number (and is then dropped as the conflict it is).
    IF NEW.case_number IS NULL THEN
        SELECT case_number INTO NEW.case_number FROM reports WHERE id = NEW.id;
    END IF;
    IF NEW.case_number IS NULL THEN
        NEW.case_number := case_number_next(
            case_number_prefix(NEW.county_id),
            extract(year FROM COALESCE(NEW.reported_at, now()) AT TIME ZONE 'Asia/Shanghai')::int);
    END IF;
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "case_number_counters",
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", "year", name=op.f("pk_case_number_counters")),
    )
    op.add_column("reports", sa.Column("case_number", sa.String(length=40), nullable=True))
    op.execute(_FUNCTIONS)
    # The reports already stored, in a fixed order (received, then id), so the same data
    # always gets the same numbers; then each counter continues from its highest number.
    op.execute(
        """
        UPDATE reports AS r SET case_number = n.prefix || '-' || n.year || '-'
            || lpad(n.seq::text, greatest(6, length(n.seq::text)), '0')
        FROM (
            SELECT id, prefix, year, row_number() OVER (
                PARTITION BY prefix, year ORDER BY reported_at, id) AS seq
            FROM (
                SELECT r.id, r.reported_at, COALESCE(p.prefix, case_number_prefix(NULL)) AS prefix,
                    extract(year FROM r.reported_at AT TIME ZONE 'Asia/Shanghai')::int AS year
                FROM reports AS r
                LEFT JOIN (SELECT id, case_number_prefix(id) AS prefix FROM areas
                           WHERE level = 'county') AS p ON p.id = r.county_id
            ) AS k
        ) AS n
        WHERE r.id = n.id
        """
    )
    op.execute(
        """
        INSERT INTO case_number_counters (prefix, year, last_number)
        SELECT split_part(case_number, '-', 1), split_part(case_number, '-', 2)::int,
            max(split_part(case_number, '-', 3)::int)
        FROM reports GROUP BY 1, 2
        """
    )
    op.alter_column("reports", "case_number", nullable=False)
    op.create_unique_constraint(op.f("uq_reports_case_number"), "reports", ["case_number"])
    op.execute(
        "CREATE TRIGGER reports_case_number BEFORE INSERT ON reports "
        "FOR EACH ROW EXECUTE FUNCTION reports_case_number()"
    )
    op.execute("ALTER TABLE reports ENABLE ALWAYS TRIGGER reports_case_number")


def downgrade() -> None:
    op.execute("DROP TRIGGER reports_case_number ON reports")
    op.execute("DROP FUNCTION reports_case_number()")
    op.execute("DROP FUNCTION case_number_next(text, integer)")
    op.execute("DROP FUNCTION case_number_prefix(integer)")
    op.drop_constraint(op.f("uq_reports_case_number"), "reports", type_="unique")
    op.drop_column("reports", "case_number")
    op.drop_table("case_number_counters")
