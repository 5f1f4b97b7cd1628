"""Print the RabbitMQ definitions of the topology declared in code.

``python -m shared.bus.export_definitions > deploy/rabbitmq/definitions.json``;
a test keeps the committed file equal to this output.
"""

from __future__ import annotations

import json
import sys

from shared.bus.topology import definitions
from shared.settings import load_settings


def render() -> str:
    settings = load_settings()
    return (
        json.dumps(
            definitions(settings.bus_namespace, settings.retry_delays), indent=2, sort_keys=True
        )
        + "\n"
    )


if __name__ == "__main__":
    sys.stdout.write(render())
