"""Synthetic read-store rows written straight into the report store (for streaming tests and
``bench/report_csv.py``): ``count`` booked appointments spread over March 2026 in New York."""

from __future__ import annotations

import asyncpg

SEED_FROM = "2026-03-01"
SEED_TO = "2026-03-31"


async def seed_rows(conn: asyncpg.Connection, count: int) -> None:
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO centers(center_id, name, timezone, first_seen_at, version_at, version_id)
               VALUES ('C1', 'Learning Center', 'America/New_York', now(), now(),
                       gen_random_uuid())
               ON CONFLICT DO NOTHING"""
        )
        await conn.execute(
            """INSERT INTO students(student_id, first_name, last_name, email, lists,
                                    version_at, version_id)
               SELECT 'st' || g, 'First' || g, 'Last' || g, 'st' || g || '@example.edu',
                      ARRAY['Active'], now(), gen_random_uuid()
               FROM generate_series(1, $1) g""",
            count,
        )
        await conn.execute(
            """INSERT INTO invitee_rows(invitee_id, invite_id, invite_type, due_date,
                   section_id, section_subject, section_course, section_name,
                   reason_id, reason_name, exam_code, exam_passcode, exam_file,
                   student_id, first_name, last_name, email, lists, widget_id, widget_name)
               SELECT 'iv' || g, 'inv' || (g / 50), (ARRAY['Exam', 'Pop Quiz', 'Final'])[1 + g % 3],
                      DATE '2026-04-01', 'S' || (g % 40), 'MATH', (100 + g % 40)::text, '01',
                      'R' || (g % 5), 'Reason ' || (g % 5), 'CODE-' || g, 'pass' || g,
                      'exam' || (g % 40) || '.pdf', 'st' || g, 'First' || g, 'Last' || g,
                      'st' || g || '@example.edu', ARRAY['Active'], 'W1', 'Invites'
               FROM generate_series(1, $1) g""",
            count,
        )
        await conn.execute(
            """INSERT INTO appointment_rows(appointment_id, invitee_id, invite_id, student_id,
                   starts_at, ends_at, local_start_date, duration_minutes, consultant_id,
                   consultant_name, center_id, center_name, center_timezone, modality, kind,
                   booked_by, booked_at, attendance)
               SELECT 'ap' || g, 'iv' || g, 'inv' || (g / 50), 'st' || g,
                      s.starts_at, s.starts_at + interval '60 minutes',
                      (s.starts_at AT TIME ZONE 'America/New_York')::date, 60,
                      'K' || (g % 12), 'Consultant ' || (g % 12), 'C1', 'Learning Center',
                      'America/New_York', 'in_person', 'one_on_one', 'student',
                      s.starts_at - interval '3 days',
                      (ARRAY['pending', 'attended', 'no_show'])[1 + g % 3]
               FROM generate_series(1, $1) g
               CROSS JOIN LATERAL (
                   SELECT TIMESTAMPTZ '2026-03-01 13:00+00' + (g % 31) * interval '1 day'
                          + ((g * 7) % 480) * interval '1 minute' AS starts_at) s""",
            count,
        )
        await conn.execute("ANALYZE")
