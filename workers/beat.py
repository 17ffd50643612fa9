"""Beat's scheduler, which also records each tick for operators (digest.ops.records), so a
beat that stopped ticking shows on the ops page."""

from celery.beat import PersistentScheduler

from digest.ops.records import forget_beat, record_beat_tick


class RecordingScheduler(PersistentScheduler):
    def tick(self, *args, **kwargs) -> float:
        next_tick_in = super().tick(*args, **kwargs)
        record_beat_tick(next_tick_in)
        return next_tick_in

    def close(self) -> None:
        # Stopped: `digest doctor` counts the beats ticking, and a restarted beat is a new one.
        super().close()
        forget_beat()
