"""The invite service."""
