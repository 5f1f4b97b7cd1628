"""HTTP handlers of the invite service: thin, they parse, check roles, call the repository."""
