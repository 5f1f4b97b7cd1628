-- Search answers are cached in each copy (slot_cache.py). Every change they depend on
-- tells every copy, from the changing transaction (NOTIFY is delivered at commit, and
-- identical payloads of one transaction are sent once): the payload is a center id, or
-- '*' for what concerns every center (centers, duration rules, consultants' names).

CREATE FUNCTION notify_slots_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('search_slots_changed', c)
           FROM (SELECT DISTINCT center_id AS c FROM new_rows) AS x;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM pg_notify('search_slots_changed', c)
           FROM (SELECT center_id AS c FROM new_rows UNION SELECT center_id FROM old_rows) AS x;
    ELSE
        PERFORM pg_notify('search_slots_changed', c)
           FROM (SELECT DISTINCT center_id AS c FROM old_rows) AS x;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION notify_all_slots_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('search_slots_changed', '*');
    RETURN NULL;
END $$;

-- Transition tables allow one event per trigger, hence three of each.
CREATE TRIGGER availabilities_inserted_notify AFTER INSERT ON availabilities
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_slots_changed();
CREATE TRIGGER availabilities_updated_notify AFTER UPDATE ON availabilities
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_slots_changed();
CREATE TRIGGER availabilities_deleted_notify AFTER DELETE ON availabilities
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_slots_changed();

CREATE TRIGGER appointments_inserted_notify AFTER INSERT ON appointments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_slots_changed();
CREATE TRIGGER appointments_updated_notify AFTER UPDATE ON appointments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_slots_changed();
CREATE TRIGGER appointments_deleted_notify AFTER DELETE ON appointments
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_slots_changed();

-- Centers (their names, timezones, intervals, and which exist) are also kept in memory
-- by each copy; they change rarely, so any change starts every copy over.
CREATE TRIGGER centers_changed_notify AFTER INSERT OR UPDATE OR DELETE ON centers
    FOR EACH STATEMENT EXECUTE FUNCTION notify_all_slots_changed();
CREATE TRIGGER consultants_changed_notify AFTER UPDATE OR DELETE ON consultants
    FOR EACH STATEMENT EXECUTE FUNCTION notify_all_slots_changed();
CREATE TRIGGER duration_rules_changed_notify AFTER INSERT OR UPDATE OR DELETE ON duration_rules
    FOR EACH STATEMENT EXECUTE FUNCTION notify_all_slots_changed();
