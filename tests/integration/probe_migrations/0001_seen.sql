CREATE TABLE seen (event_id uuid NOT NULL, reason_id text NOT NULL, name text NOT NULL);
CREATE TABLE things (id text PRIMARY KEY);
