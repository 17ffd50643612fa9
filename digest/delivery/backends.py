"""Choose the delivery backend named by DELIVERY_BACKEND."""

from functools import lru_cache

from digest.config import get_settings
from digest.delivery.memory import MemorySender
from digest.delivery.message import Sender
from digest.delivery.outbox import OutboxSender
from digest.delivery.sendgrid import SendGridSender


@lru_cache(maxsize=1)
def get_sender() -> Sender:
    settings = get_settings()
    if settings.DELIVERY_BACKEND == "sendgrid":
        return SendGridSender(settings.SENDGRID_API_KEY, str(settings.SENDGRID_API_HOST),
                              settings.SENDGRID_TIMEOUT_SECONDS, settings.SENDGRID_ASM_GROUP_ID)
    if settings.DELIVERY_BACKEND == "memory":
        return MemorySender()
    return OutboxSender(settings.OUTBOX_DIR)
