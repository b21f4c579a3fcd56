"""
Newest frame wins: a one-slot mailbox and the worker thread that drains it (no ROS).

The executor thread only drops the message into the slot (O(1), never blocks on inference);
a frame still waiting when a newer one arrives is replaced and counted as dropped, so a slow
model falls behind by at most one frame instead of growing a queue.
"""

import threading
import time
from typing import Any, Callable, Optional, Tuple


class LatestSlot:
    """A one-item mailbox: ``put`` replaces an item not yet taken, ``take`` waits for one."""

    def __init__(self) -> None:
        """Create an empty, open slot."""
        self._condition = threading.Condition()
        self._item: Optional[Tuple[Any, float]] = None
        self._closed = False
        self.received = 0
        self.dropped = 0

    def put(self, item: Any) -> bool:
        """Store ``item`` with its arrival time (steady clock); return True if one was dropped."""
        with self._condition:
            replaced = self._item is not None
            self._item = (item, time.monotonic())
            self.received += 1
            if replaced:
                self.dropped += 1
            self._condition.notify()
            return replaced

    def take(self, timeout: Optional[float] = None) -> Optional[Tuple[Any, float]]:
        """Return ``(item, arrival_time)``, or None on timeout or when closed."""
        with self._condition:
            if not self._condition.wait_for(lambda: self._item is not None or self._closed,
                                            timeout):
                return None
            item, self._item = self._item, None
            return None if self._closed else item

    def pending(self) -> bool:
        """Return whether an item is waiting."""
        with self._condition:
            return self._item is not None

    def close(self) -> None:
        """Wake the taker and refuse further items."""
        with self._condition:
            self._closed = True
            self._item = None
            self._condition.notify_all()


class FrameWorker:
    """
    Runs ``process(item, arrival_time)`` on the newest submitted item, in its own thread.

    Exceptions from ``process`` go to ``on_error`` (the thread keeps running); ``stop`` joins.
    """

    def __init__(self, process: Callable[[Any, float], None], *, name: str = 'inference',
                 on_error: Optional[Callable[[BaseException], None]] = None) -> None:
        """Create a stopped worker; call :meth:`start`."""
        self._process = process
        self._on_error = on_error
        self._name = name
        self.slot = LatestSlot()
        self._thread: Optional[threading.Thread] = None
        self.processed = 0
        self.busy = False

    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def submit(self, item: Any) -> bool:
        """Offer an item; return True if an older, unprocessed one was dropped for it."""
        return self.slot.put(item)

    @property
    def dropped(self) -> int:
        """Frames replaced before the worker got to them."""
        return self.slot.dropped

    def stop(self, timeout: float = 5.0) -> bool:
        """Close the slot and join the thread; return whether it ended within ``timeout``."""
        self.slot.close()
        thread, self._thread = self._thread, None
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        while True:
            taken = self.slot.take()
            if taken is None:
                return
            item, arrived = taken
            self.busy = True
            try:
                self._process(item, arrived)
            except Exception as exc:  # noqa: B902 - reported, the worker must survive
                if self._on_error is not None:
                    self._on_error(exc)
            finally:
                self.busy = False
                self.processed += 1
