"""The message bus: topology, transactional outbox and relay, consumer with inbox."""
