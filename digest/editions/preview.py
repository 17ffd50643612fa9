"""What an editor sees before approving: the edition filled for a sample reader."""

from digest.config import get_settings
from digest.editions.render import Filled, fill, render_edition
from digest.store.models import Edition

PREVIEW_READER = {"name": "Reader"}


def preview_edition(edition: Edition) -> Filled:
    base = get_settings().base_url
    values = dict(PREVIEW_READER, unsubscribe_url=f"{base}/unsubscribe", preferences_url=f"{base}/preferences")
    return fill(render_edition(edition), values)
