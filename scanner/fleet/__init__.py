"""The fleet: scan parts run by Celery workers in each network segment (Redis broker), written
into one scan of the shared history store (PostgreSQL). See ``nasscan worker`` and
``nasscan fleet``; docs/architecture.md ("Fleet") describes the design."""
