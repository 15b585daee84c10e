"""The notification stage: oslo.messaging notification topics -> events on the logs topic.

Off unless RCA_WORKER_NOTIFICATION_TOPICS names topics. Each notification is
decoded (engine/notifications.py) into a log event and published, in our own
event schema, to the logs topic, where the window stage reads it like any other
record: the same windows, sessions, incidents and dead letters, and the logs
topic's partitions and offsets stay the only ones the window stage records
(feeding the window stage directly would mix another topic's offsets into its
published-windows table). A message that is no notification goes to the
dead-letter topic with its reason. At-least-once: a notification is acked only
once its event (or dead letter) is acknowledged by the broker, one at a time
(error notifications are few; in order, so Faust never commits past one).
"""
from __future__ import annotations

import logging

import faust

import schemas
from config.settings import Settings
from consumers.deadletters import dead_letter
from engine.notifications import NotANotification, decode_notification

log = logging.getLogger(__name__)


def add_notification_stage(app: faust.App, settings: Settings, logs_topic, dlq_topic, repair) -> None:
    """Subscribe the worker to the notification topics (none: nothing is added)."""
    names = settings.worker.notification_topic_names()
    if not names:
        return
    source = app.topic(*names, key_type=bytes, value_type=bytes)

    @app.agent(source, concurrency=1, name="openstack-notifications")
    async def notifications(stream):
        async for event in repair.events(stream, ack=False):
            msg = event.message
            decoded = decode_notification(msg.value, msg.topic)
            if isinstance(decoded, NotANotification):
                letter = dead_letter(decoded.reason, decoded.error, msg.topic, msg.partition, msg.offset,
                                     msg.key, msg.value, max_bytes=settings.worker.max_dead_letter_bytes)
                sent = await dlq_topic.send(key=msg.key, value=schemas.encode(letter))
            else:
                key = f"{decoded.host or 'unknown'}:{msg.topic}".encode()
                sent = await logs_topic.send(key=key, value=schemas.encode(decoded.to_dict()))
            await sent   # delivered, then acked
            event.ack()

    log.info("reading OpenStack notifications from %s into %s", ", ".join(names), settings.topics.logs)
