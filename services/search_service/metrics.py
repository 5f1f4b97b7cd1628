"""Prometheus metrics of the search service (served at /metrics with the shared ones)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

# The slot lists' cache (slot_cache.py).
LOOKUPS = Counter(
    "search_slot_cache_lookups_total",
    "Slot list lookups: hit, miss (computed), joined (waited for the same computation), "
    "bypass (not listening for changes, computed without the cache)",
    ["service", "outcome"],
)
INVALIDATIONS = Counter(
    "search_slot_cache_invalidations_total",
    "Cache invalidations: write (a write request here), notify (a change from any copy), "
    "listener (the LISTEN connection came or went)",
    ["service", "cause"],
)
ENTRIES = Gauge("search_slot_cache_entries", "Slot lists held", ["service"])
BYTES = Gauge("search_slot_cache_bytes", "Bytes held (plain, gzip and brotli)", ["service"])
