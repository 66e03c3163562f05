"""The Celery application of the fleet: broker settings shared by workers and submitters.

Redis is the broker; nothing uses a Celery result backend (parts report to the history store).
Every shard task is acknowledged late (after it ran) and rejected back to its queue if the pool
process running it dies; a worker killed outright leaves its message unacknowledged in Redis,
where any other worker's poller restores it after the visibility timeout.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

TASK_NAME = "nasscan.fleet.run_part"
DEFAULT_VISIBILITY_TIMEOUT = 3600.0


def make_app(broker: str, *, visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT) -> Celery:
    """A Celery app on ``broker`` (``redis://[:password@]host[:port]/db``)."""
    app = Celery("nasscan", broker=broker, set_as_current=False)
    restore_every = max(1.0, min(10.0, visibility_timeout / 4))
    transport: dict[str, Any] = {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": restore_every,
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": 5,
    }
    app.conf.update(
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for Redis to come back
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_default_queue="default",
        task_create_missing_queues=True,
        task_ignore_result=True,
        result_backend=None,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_timeout=5,
        worker_send_task_events=False,
        enable_utc=True,
    )
    return app
