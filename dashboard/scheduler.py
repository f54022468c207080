"""The embedded scheduler: the schedule of ``dashboard.schedule`` in threads of this process.

One thread per entry, so a long history sync never delays the live poll; a run that takes
longer than its interval is followed by the next one at once, never by a backlog. While it
runs, ``core.queue.run_soon`` wakes an entry's thread for one run before its turn (the re-read
after a supervisor's action); the entry's schedule stays as it was.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections

from core import queue
from dashboard.schedule import Entry, entries

logger = logging.getLogger(__name__)


class EmbeddedScheduler:
    def __init__(self, schedule: list[Entry] | None = None) -> None:
        self.schedule = schedule if schedule is not None else entries()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        #: Each entry's wake-up, by task name: set, its thread runs it once more at once.
        self.wakes: dict[str, threading.Event] = {}

    def start(self) -> None:
        for entry in self.schedule:
            wake = self.wakes[entry.task] = threading.Event()
            thread = threading.Thread(
                target=self._loop,
                args=(entry, wake),
                name=f"scheduler:{entry.task}",
                daemon=True,
            )
            thread.start()
            self.threads.append(thread)
        queue.use_scheduler(self.wake)

    def wake(self, task: str) -> bool:
        """Run ``task`` once more as soon as its thread is free; False for a task this
        scheduler does not run, or once it is stopping."""
        wake = self.wakes.get(task)
        if wake is None or self.stopping.is_set():
            return False
        wake.set()
        return True

    def stop(self, timeout: float = 10.0) -> None:
        queue.use_scheduler(None)
        self.stopping.set()
        for wake in self.wakes.values():
            wake.set()
        for thread in self.threads:
            thread.join(timeout)

    def _loop(self, entry: Entry, wake: threading.Event) -> None:
        next_run = time.monotonic()
        while not self.stopping.is_set():
            wake.clear()  # a wake-up from here on asks for one more run after this one
            try:
                entry.run()
            except Exception:
                logger.exception("%s failed", entry.task)
            finally:
                close_old_connections()
            now = time.monotonic()
            if now >= next_run:  # the run that was due (not an early one): the next is due
                next_run = max(next_run + entry.interval, now)
            wake.wait(max(0.0, next_run - now))
