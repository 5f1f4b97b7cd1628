"""Running the system: locally (``local_run``), in containers, on a cluster."""
