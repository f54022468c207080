"""The embedded scheduler: the schedule of ``dashboard.schedule`` in threads of this process.

One thread per entry, so a long history sync never delays the live poll; a run that takes
longer than its interval is followed by the next one at once, never by a backlog.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections

from dashboard.schedule import Entry, entries

logger = logging.getLogger(__name__)


class EmbeddedScheduler:
    def __init__(self, schedule: list[Entry] | None = None) -> None:
        self.schedule = schedule if schedule is not None else entries()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for entry in self.schedule:
            thread = threading.Thread(
                target=self._loop, args=(entry,), name=f"scheduler:{entry.task}", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout)

    def _loop(self, entry: Entry) -> None:
        next_run = time.monotonic()
        while not self.stopping.is_set():
            try:
                entry.run()
            except Exception:
                logger.exception("%s failed", entry.task)
            finally:
                close_old_connections()
            next_run = max(next_run + entry.interval, time.monotonic())
            self.stopping.wait(max(0.0, next_run - time.monotonic()))
