-- What notify knows of centers (a replica fed by center.upserted): the timezone
-- of the send hour and the name the templates print.
CREATE TABLE centers (
    center_id   text PRIMARY KEY,
    name        text NOT NULL,
    timezone    text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per invite, holding what invite.created carried (without the invitees).
-- A row may exist as a stub (data NULL) when invite.cancelled arrived first.
CREATE TABLE invites (
    invite_id    text PRIMARY KEY,
    data         jsonb,
    center_id    text,
    cancelled_at timestamptz
);

-- One row per invitee; "status" is what stops emails. A stub (data NULL) may be
-- created by an event that arrived before invite.created.
CREATE TABLE invitees (
    invitee_id     text PRIMARY KEY,
    invite_id      text,
    data           jsonb,
    status         text NOT NULL DEFAULT 'invited'
                   CHECK (status IN ('invited', 'booked', 'cancelled', 'expired')),
    -- occurred_at of the newest booked/invited event applied, so a late one is ignored.
    state_at       timestamptz,
    appointment_id text,
    -- When invite.created was handled, and the instruction moment derived from it.
    scheduled_at   timestamptz,
    anchor_at      timestamptz,
    -- Whether the anchor used the center's real timezone (false: UTC, center unknown).
    tz_known       boolean NOT NULL DEFAULT false
);
CREATE INDEX invitees_invite ON invitees (invite_id);

-- Every email, scheduled or sent: the schedule and the message log in one table.
CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL
                    CHECK (kind IN ('instructions', 'reminder', 'confirmation', 'report')),
    sequence        integer NOT NULL DEFAULT 0,
    invitee_id      text,
    invite_id       text,
    delivery_id     text,
    appointment_id  text,
    recipient       text,
    -- The stable Message-ID: a re-send after a crash carries the same one.
    message_id      text NOT NULL UNIQUE,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    due_at          timestamptz NOT NULL,
    -- Back-off of temporary failures and the lease of a send in progress: real time.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    claimed_by      text,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    -- Event data a message needs besides the invite (appointment, report).
    data            jsonb,
    subject         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    failed_at       timestamptz,
    CHECK ((invitee_id IS NOT NULL) <> (delivery_id IS NOT NULL))
);
-- Never two emails for the same (invitee, kind, sequence), nor (delivery, recipient #).
CREATE UNIQUE INDEX messages_invitee_kind_seq ON messages (invitee_id, kind, sequence)
    WHERE invitee_id IS NOT NULL;
CREATE UNIQUE INDEX messages_delivery_seq ON messages (delivery_id, sequence)
    WHERE delivery_id IS NOT NULL;
CREATE UNIQUE INDEX messages_confirmation ON messages (appointment_id)
    WHERE kind = 'confirmation';
-- What the scheduler scans.
CREATE INDEX messages_due ON messages (due_at) WHERE status = 'pending';
CREATE INDEX messages_sending ON messages (lease_until) WHERE status = 'sending';

-- The built-in SMTP sink's mailbox (only used when SMTP_HOST is unset), in the
-- database so every copy of the service shows the same messages.
CREATE TABLE sink_messages (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    mail_from   text NOT NULL,
    rcpt_tos    text[] NOT NULL,
    subject     text NOT NULL DEFAULT '',
    message_id  text NOT NULL DEFAULT '',
    date        text NOT NULL DEFAULT '',
    raw         bytea NOT NULL
);
CREATE INDEX sink_messages_rcpt ON sink_messages USING gin (rcpt_tos);
