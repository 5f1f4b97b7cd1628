-- The search service: centers, consultants, availabilities, appointments, and the
-- replicas it keeps of what invite_service owns (invites, invitees, rules, lists).

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- ------------------------------------------------------------------ own data
CREATE TABLE centers (
    id text PRIMARY KEY,
    name text NOT NULL,
    timezone text NOT NULL,
    slot_interval_minutes integer NOT NULL CHECK (slot_interval_minutes BETWEEN 1 AND 1440),
    default_appointment_minutes integer NOT NULL
        CHECK (default_appointment_minutes BETWEEN 1 AND 1440),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE consultants (
    id text PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE availabilities (
    id text PRIMARY KEY,
    consultant_id text NOT NULL REFERENCES consultants(id),
    center_id text NOT NULL REFERENCES centers(id),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    modality text NOT NULL CHECK (modality IN ('in_person', 'online')),
    kind text NOT NULL CHECK (kind IN ('one_on_one', 'group')),
    capacity integer NOT NULL CHECK (capacity >= 1),
    section_ids text[] NOT NULL DEFAULT '{}',
    reason_ids text[] NOT NULL DEFAULT '{}',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    -- Bounded length keeps the window query an index range scan on starts_at.
    CHECK (ends_at - starts_at <= interval '24 hours')
);
CREATE INDEX availabilities_starts ON availabilities (starts_at);
CREATE INDEX availabilities_consultant ON availabilities (consultant_id, starts_at);
CREATE INDEX availabilities_center ON availabilities (center_id, starts_at);

CREATE TABLE appointments (
    id text PRIMARY KEY,
    availability_id text NOT NULL REFERENCES availabilities(id),
    consultant_id text NOT NULL REFERENCES consultants(id),
    center_id text NOT NULL REFERENCES centers(id),
    invitee_id text NOT NULL,
    invite_id text NOT NULL,
    student_id text NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    duration_minutes integer NOT NULL CHECK (duration_minutes > 0),
    asked_duration_minutes integer,
    applied_rule jsonb,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    attendance text NOT NULL DEFAULT 'pending'
        CHECK (attendance IN ('pending', 'attended', 'no_show')),
    -- Set by the guard trigger from the availability's capacity (1 → exclusive).
    exclusive boolean NOT NULL DEFAULT false,
    booked_by text NOT NULL,
    booked_at timestamptz NOT NULL,
    cancelled_at timestamptz,
    cancelled_by text,
    CHECK (ends_at > starts_at),
    -- No two active appointments overlap in a one-on-one (capacity 1) availability.
    CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
        availability_id WITH =, tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (status = 'active' AND exclusive)
);
-- At most one active appointment per invitee.
CREATE UNIQUE INDEX appointments_one_active_per_invitee
    ON appointments (invitee_id) WHERE status = 'active';
CREATE INDEX appointments_availability ON appointments (availability_id, starts_at)
    WHERE status = 'active';
CREATE INDEX appointments_starts ON appointments (starts_at, id);
CREATE INDEX appointments_student ON appointments (student_id);

-- Capacity at every instant, enforced by PostgreSQL for any writer: the availability
-- row is locked (one booking per resource at a time), then the most crowded instant
-- of the new appointment's interval is counted. The most crowded instant is always
-- the new start or the start of an overlapping appointment.
CREATE FUNCTION appointments_capacity_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cap integer;
    block_start timestamptz;
    block_end timestamptz;
    worst integer;
BEGIN
    IF NEW.status <> 'active' THEN
        RETURN NEW;
    END IF;
    SELECT capacity, starts_at, ends_at INTO cap, block_start, block_end
      FROM availabilities WHERE id = NEW.availability_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'availability % does not exist', NEW.availability_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF NEW.starts_at < block_start OR NEW.ends_at > block_end THEN
        RAISE EXCEPTION 'appointment outside its availability'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointments_inside_availability';
    END IF;
    NEW.exclusive := (cap = 1);
    SELECT coalesce(max(n), 0) INTO worst FROM (
        SELECT (SELECT count(*) FROM appointments o
                 WHERE o.availability_id = NEW.availability_id AND o.status = 'active'
                   AND o.id <> NEW.id AND o.starts_at <= p.at AND o.ends_at > p.at) AS n
          FROM (SELECT NEW.starts_at AS at
                UNION
                SELECT x.starts_at FROM appointments x
                 WHERE x.availability_id = NEW.availability_id AND x.status = 'active'
                   AND x.id <> NEW.id AND x.starts_at > NEW.starts_at
                   AND x.starts_at < NEW.ends_at) AS p
    ) AS counts;
    IF worst + 1 > cap THEN
        RAISE EXCEPTION 'availability % is full at that time', NEW.availability_id
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'appointments_capacity';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER appointments_capacity_guard
    BEFORE INSERT OR UPDATE OF status, starts_at, ends_at, availability_id ON appointments
    FOR EACH ROW EXECUTE FUNCTION appointments_capacity_guard();

-- ------------------------------------------------------------------ replicas
-- One row per invite (invite.created); restrictions and the staff-only block.
CREATE TABLE invites (
    invite_id text PRIMARY KEY,
    widget_id text NOT NULL,
    center_ids text[] NOT NULL DEFAULT '{}',
    type text,
    due_date date NOT NULL,
    section jsonb,
    reason jsonb,
    duration_minutes integer,
    modalities jsonb NOT NULL,
    exam_code text,
    exam_file text,
    exam_passcode text,
    notes text,
    instructions_template text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE invitees (
    invitee_id text PRIMARY KEY,
    invite_id text NOT NULL REFERENCES invites(invite_id),
    student_id text NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text NOT NULL,
    token_hash text NOT NULL UNIQUE
);
CREATE INDEX invitees_invite ON invitees (invite_id);

-- invite.cancelled, kept on its own so one that arrives before invite.created is
-- not lost: link resolution joins it. Empty invitee_ids = the whole invite.
CREATE TABLE invite_cancellations (
    invite_id text PRIMARY KEY,
    invitee_ids text[] NOT NULL DEFAULT '{}',
    cancelled_at timestamptz NOT NULL,
    cancelled_by text NOT NULL
);

-- The latest invitee.status_changed per invitee (by occurred_at), independent of
-- arrival order. Only 'cancelled' and 'expired' close a link; booked/invited come
-- from our own appointments, which are the truth here.
CREATE TABLE invitee_statuses (
    invitee_id text PRIMARY KEY,
    status text NOT NULL,
    occurred_at timestamptz NOT NULL
);

-- Each student's lists, newest snapshot wins (invite.created or directory events).
CREATE TABLE student_lists (
    student_id text PRIMARY KEY,
    lists text[] NOT NULL DEFAULT '{}',
    occurred_at timestamptz NOT NULL
);

-- The whole ordered rule list (duration_rules.changed), one row.
CREATE TABLE duration_rules (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    rules jsonb NOT NULL,
    occurred_at timestamptz NOT NULL
);
