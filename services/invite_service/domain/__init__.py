"""The invite service's domain rules: pure functions, no I/O, unit tested."""
