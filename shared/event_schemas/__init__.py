"""Committed JSON Schemas of every event version (see tests/unit/test_event_schemas.py).

Regenerate after an intended, versioned change: ``python -m shared.event_schemas``.
"""

from __future__ import annotations

import json
from pathlib import Path

from shared.events import event_json_schemas

DIRECTORY = Path(__file__).parent


def write_all() -> list[Path]:
    written = []
    for key, schema in event_json_schemas().items():
        path = DIRECTORY / f"{key}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
