"""The event contract: committed schemas, round trips, and the envelope rules."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError

from shared.event_schemas import DIRECTORY
from shared.events import (
    EVENT_MODELS,
    ReasonUpserted,
    dump_event,
    event_json_schemas,
    make_event,
    parse_event,
)


def test_every_event_schema_is_committed_and_unchanged():
    current = event_json_schemas()
    committed = {p.stem: json.loads(p.read_text()) for p in DIRECTORY.glob("*.json")}
    missing = sorted(set(current) - set(committed))
    assert not missing, f"new event versions without a committed schema: {missing}"
    changed = sorted(k for k in current if committed.get(k) != current[k])
    assert not changed, (
        f"the schema of {changed} changed: a consumer of that version may break. Add a new "
        "version (or, for an additive optional field, regenerate: python -m shared.event_schemas)"
    )


def test_round_trip_and_envelope_fields():
    event = make_event(
        "directory.reason_upserted",
        ReasonUpserted(reason_id="r1", name="Exam"),
        producer="t",
        correlation_id="c-1",
    )
    parsed = parse_event(dump_event(event))
    assert parsed == event
    assert parsed.version == 1 and parsed.producer == "t" and parsed.correlation_id == "c-1"
    assert isinstance(parsed.id, uuid.UUID) and parsed.occurred_at.tzinfo is not None


def test_consumers_ignore_unknown_fields_but_refuse_unknown_types():
    event = make_event(
        "directory.reason_upserted", ReasonUpserted(reason_id="r1", name="x"), producer="t"
    )
    data = json.loads(dump_event(event))
    data["payload"]["added_later"] = 1
    data["new_envelope_field"] = True
    assert parse_event(json.dumps(data)).payload.name == "x"
    data["type"] = "no.such_event"
    with pytest.raises(ValidationError):
        parse_event(json.dumps(data))


def test_make_event_refuses_the_wrong_payload():
    with pytest.raises(TypeError):
        make_event("invite.cancelled", ReasonUpserted(reason_id="r", name="n"), producer="t")


def test_event_names_are_past_tense_and_namespaced():
    for name in EVENT_MODELS:
        domain, _, what = name.partition(".")
        assert domain and what
        assert what.endswith(("ed", "sent")), name
