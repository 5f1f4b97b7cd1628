"""Helpers for the test tiers: isolated settings, real-infrastructure fixtures, polling."""
