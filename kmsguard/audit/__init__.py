"""Live account audit: read-only collection (client, collect) and snapshots."""
