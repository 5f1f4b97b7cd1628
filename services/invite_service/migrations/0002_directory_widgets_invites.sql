-- The directory: students, terms, sections with their faculty and roster, reasons.
CREATE TABLE students (
    student_id text PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text NOT NULL,
    lists text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX students_lists ON students USING gin (lists);

CREATE TABLE terms (
    term_id text PRIMARY KEY,
    name text NOT NULL,
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    CHECK (ends_on >= starts_on)
);

CREATE TABLE sections (
    section_id text PRIMARY KEY,
    subject text NOT NULL,
    course text NOT NULL,
    section text NOT NULL,
    term_id text REFERENCES terms (term_id),
    faculty_ids text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sections_faculty ON sections USING gin (faculty_ids);

-- The roster of a section.
CREATE TABLE section_students (
    section_id text NOT NULL REFERENCES sections (section_id) ON DELETE CASCADE,
    student_id text NOT NULL REFERENCES students (student_id),
    PRIMARY KEY (section_id, student_id)
);
CREATE INDEX section_students_student ON section_students (student_id);

CREATE TABLE reasons (
    reason_id text PRIMARY KEY,
    name text NOT NULL
);

-- A replica of the search service's centers (name for the preview, timezone for due dates).
CREATE TABLE centers (
    center_id text PRIMARY KEY,
    name text NOT NULL,
    timezone text NOT NULL,
    -- occurred_at of the event that wrote the row: an older event never overwrites a newer one.
    source_occurred_at timestamptz NOT NULL
);

-- Widgets: the invite settings.
CREATE TABLE widgets (
    widget_id uuid PRIMARY KEY,
    name text NOT NULL,
    center_ids text[] NOT NULL DEFAULT '{}',
    is_invitation boolean NOT NULL,
    hide_on_dashboard boolean NOT NULL,
    invitation_types text[] NOT NULL DEFAULT '{}',
    send_instructions_days integer NOT NULL CHECK (send_instructions_days >= 0),
    invitation_subject text NOT NULL,
    invitation_instructions text NOT NULL,
    ask_fields text[] NOT NULL DEFAULT '{}',
    reminder_every_days integer CHECK (reminder_every_days > 0),
    reminder_text text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE invites (
    invite_id uuid PRIMARY KEY,
    widget_id uuid NOT NULL REFERENCES widgets (widget_id),
    -- The widget's first center when the invite was made: its timezone dates the due date.
    center_id text,
    created_by text NOT NULL,
    created_by_name text NOT NULL DEFAULT '',
    created_by_role text NOT NULL,
    created_at timestamptz NOT NULL,
    type text,
    due_date date NOT NULL,
    section_id text REFERENCES sections (section_id),
    reason_id text REFERENCES reasons (reason_id),
    duration_minutes integer CHECK (duration_minutes > 0),
    exam_code text,
    exam_file text,
    exam_passcode text,
    notes text,
    modalities jsonb NOT NULL,
    email_text text NOT NULL,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    cancelled_at timestamptz,
    cancelled_by text
);
CREATE INDEX invites_listing ON invites (created_at DESC, invite_id DESC);
CREATE INDEX invites_widget ON invites (widget_id);
CREATE INDEX invites_created_by ON invites (created_by);
CREATE INDEX invites_active_due ON invites (due_date) WHERE status = 'active';

CREATE TABLE invitees (
    invitee_id uuid PRIMARY KEY,
    invite_id uuid NOT NULL REFERENCES invites (invite_id),
    student_id text NOT NULL REFERENCES students (student_id),
    -- sha256 of the personal link token; the token itself is never stored here.
    token_hash text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    status text NOT NULL DEFAULT 'invited'
        CHECK (status IN ('invited', 'booked', 'cancelled', 'expired')),
    instructions_sent_at timestamptz,
    reminders_sent integer NOT NULL DEFAULT 0,
    last_delivery_error text,
    last_delivery_error_at timestamptz,
    appointment_id text,
    appointment_booked_at timestamptz,
    UNIQUE (invite_id, student_id)
);
CREATE INDEX invitees_invited ON invitees (invite_id) WHERE status = 'invited';
CREATE INDEX invitees_student ON invitees (student_id);

-- Appointments heard cancelled: a late appointment.booked for one of them changes nothing.
CREATE TABLE cancelled_appointments (
    appointment_id text PRIMARY KEY,
    cancelled_at timestamptz NOT NULL
);

-- Emails already counted (email.sent by message id), so a resent event counts once.
CREATE TABLE email_receipts (
    message_id text PRIMARY KEY,
    invitee_id uuid NOT NULL,
    kind text NOT NULL
);

-- The ordered duration rules; replaced as a whole.
CREATE TABLE duration_rules (
    position integer PRIMARY KEY,
    list text,
    type text,
    duration_minutes integer CHECK (duration_minutes > 0),
    new_duration_minutes integer NOT NULL CHECK (new_duration_minutes > 0)
);
