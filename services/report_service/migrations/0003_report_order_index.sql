-- The report reads rows by local day, then start, then id: one index gives that order.
DROP INDEX IF EXISTS appointment_rows_local_date;
CREATE INDEX appointment_rows_report_order
    ON appointment_rows (local_start_date, starts_at, appointment_id);
