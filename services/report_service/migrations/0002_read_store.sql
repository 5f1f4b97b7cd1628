-- The report service's read store, fed only by events.
--
-- How order tolerance works (see services/report_service/handlers.py):
-- * Reference data (students, sections, reasons, terms, widgets, centers) is
--   "last writer wins" by the event's (occurred_at, event id): an older event
--   arriving late never overwrites a newer one.
-- * invitee_rows hold what invite.created says about each invitee (a snapshot
--   of the student, section, reason and widget at that moment); the report
--   prefers the directory's current values and falls back to the snapshot.
-- * appointment_rows hold one appointment each; every column group is owned by
--   one event type (booked / cancelled / attendance), so any arrival order
--   converges to the same row. A row may exist before its booking is known.
-- * Per-message email facts are kept and the invitee's email stats recomputed
--   from them, so duplicates and reordering cannot miscount.

-- Every event this service consumed, raw, in the same transaction as its
-- effect: the rebuild command replays it into an empty store.
CREATE TABLE event_log (
    position bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    body jsonb NOT NULL,
    logged_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE students (
    student_id text PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text NOT NULL,
    lists text[] NOT NULL DEFAULT '{}',
    version_at timestamptz NOT NULL,
    version_id uuid NOT NULL
);

CREATE TABLE sections (
    section_id text PRIMARY KEY,
    subject text NOT NULL,
    course text NOT NULL,
    section text NOT NULL,
    term_id text,
    version_at timestamptz NOT NULL,
    version_id uuid NOT NULL
);

CREATE TABLE reasons (
    reason_id text PRIMARY KEY,
    name text NOT NULL,
    version_at timestamptz NOT NULL,
    version_id uuid NOT NULL
);

CREATE TABLE terms (
    term_id text PRIMARY KEY,
    name text NOT NULL,
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    version_at timestamptz NOT NULL,
    version_id uuid NOT NULL
);

CREATE TABLE widgets (
    widget_id text PRIMARY KEY,
    name text NOT NULL,
    version_at timestamptz NOT NULL,
    version_id uuid NOT NULL
);

CREATE TABLE centers (
    center_id text PRIMARY KEY,
    name text NOT NULL,
    timezone text NOT NULL,
    -- "The first center" (default timezone of the report) is the earliest seen.
    first_seen_at timestamptz NOT NULL,
    version_at timestamptz NOT NULL,
    version_id uuid NOT NULL
);

CREATE TABLE invitee_rows (
    invitee_id text PRIMARY KEY,
    invite_id text,
    -- filled by invite.created (NULL until it arrives)
    invite_created_at timestamptz,
    created_by text,
    widget_id text,
    widget_name text,
    invite_type text,
    due_date date,
    section_id text,
    section_subject text,
    section_course text,
    section_name text,
    reason_id text,
    reason_name text,
    duration_minutes integer,
    exam_code text,
    exam_file text,
    exam_passcode text,
    notes text,
    student_id text,
    first_name text,
    last_name text,
    email text,
    lists text[],
    -- invite.cancelled
    invite_cancelled_at timestamptz,
    -- invitee.status_changed, last writer by occurred_at
    status text,
    status_version_at timestamptz,
    status_version_id uuid,
    -- recomputed from invitee_emails
    instructions_sent_at timestamptz,
    reminders_sent integer NOT NULL DEFAULT 0,
    last_email_error text
);
CREATE INDEX invitee_rows_student ON invitee_rows (student_id);

CREATE TABLE appointment_rows (
    appointment_id text PRIMARY KEY,
    invitee_id text NOT NULL,
    invite_id text NOT NULL,
    -- filled by appointment.booked (NULL until it arrives)
    student_id text,
    starts_at timestamptz,
    ends_at timestamptz,
    -- the start's date in the center's timezone: the report's time frame
    local_start_date date,
    duration_minutes integer,
    asked_duration_minutes integer,
    consultant_id text,
    consultant_name text,
    center_id text,
    center_name text,
    center_timezone text,
    modality text,
    kind text,
    booked_by text,
    booked_at timestamptz,
    -- appointment.cancelled
    cancelled_at timestamptz,
    cancelled_by text,
    -- appointment.attendance_marked, last writer by occurred_at
    attendance text,
    attendance_version_at timestamptz,
    attendance_version_id uuid
);
CREATE INDEX appointment_rows_local_date ON appointment_rows (local_start_date, starts_at);
CREATE INDEX appointment_rows_invitee ON appointment_rows (invitee_id);
CREATE INDEX appointment_rows_center ON appointment_rows (center_id);

-- One row per email notify reported about an invitee; last writer per message.
CREATE TABLE invitee_emails (
    message_id text PRIMARY KEY,
    invitee_id text NOT NULL,
    kind text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('sent', 'failed')),
    error text,
    at timestamptz NOT NULL,
    version_at timestamptz NOT NULL,
    version_id uuid NOT NULL
);
CREATE INDEX invitee_emails_invitee ON invitee_emails (invitee_id);

-- Report deliveries this service requested (its own data, not rebuilt).
CREATE TABLE deliveries (
    delivery_id text PRIMARY KEY,
    requested_at timestamptz NOT NULL,
    requested_by text NOT NULL,
    recipients text[] NOT NULL CHECK (cardinality(recipients) > 0),
    format text NOT NULL CHECK (format IN ('csv', 'html')),
    filename text NOT NULL,
    subject text NOT NULL,
    parameters jsonb NOT NULL,
    row_count integer NOT NULL,
    size_bytes integer NOT NULL
);

-- What notify said about each email of a delivery; last writer per message.
CREATE TABLE delivery_emails (
    message_id text PRIMARY KEY,
    delivery_id text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('sent', 'failed')),
    error text,
    permanent boolean NOT NULL DEFAULT false,
    at timestamptz NOT NULL,
    version_at timestamptz NOT NULL,
    version_id uuid NOT NULL
);
CREATE INDEX delivery_emails_delivery ON delivery_emails (delivery_id);
