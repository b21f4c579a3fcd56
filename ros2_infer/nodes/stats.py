"""Latency percentiles, message rates and the DiagnosticArray they fill (no ROS needed)."""

from collections import deque
import threading
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

import numpy as np

from ros2_infer.conversions import make_header, MessageTypes, resolve
from ros2_infer.conversions._common import new


class RateMeter:
    """Events per second over a sliding window of the steady clock."""

    def __init__(self, window_s: float = 5.0) -> None:
        """Create a meter averaging over ``window_s`` seconds."""
        self.window_s = window_s
        self._times: Deque[float] = deque()
        self.count = 0

    def tick(self, now: Optional[float] = None) -> None:
        """Record one event."""
        now = time.monotonic() if now is None else now
        self._times.append(now)
        self.count += 1
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()

    def rate(self, now: Optional[float] = None) -> float:
        """Return events per second in the window (0 with fewer than two events)."""
        now = time.monotonic() if now is None else now
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class NodeStats:
    """
    What a node reports on ``/diagnostics``; thread-safe (executor and worker both write).

    Latency is receive -> publish on the steady clock (``time.monotonic``), not sim time.
    """

    def __init__(self, window: int = 200) -> None:
        """Keep the last ``window`` latencies."""
        self._lock = threading.Lock()
        self._latency_ms: Deque[float] = deque(maxlen=window)
        self.inputs = RateMeter()
        self.outputs = RateMeter()
        self.rejected: Dict[str, int] = {}
        self.errors = 0

    def received(self) -> None:
        """Count an input message."""
        with self._lock:
            self.inputs.tick()

    def published(self, arrived: float) -> None:
        """Count an output and its latency from ``arrived`` (a ``time.monotonic`` value)."""
        now = time.monotonic()
        with self._lock:
            self.outputs.tick(now)
            self._latency_ms.append((now - arrived) * 1e3)

    def reject(self, reason: str) -> None:
        """Count a rejected input under a short reason key."""
        with self._lock:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def latency(self) -> Tuple[float, float]:
        """Return (p50, p95) latency in ms (NaN before the first output)."""
        with self._lock:
            values = np.asarray(self._latency_ms, np.float64)
        if values.size == 0:
            return float('nan'), float('nan')
        p50, p95 = np.percentile(values, [50, 95])
        return float(p50), float(p95)

    def key_values(self, dropped: int, extra: Dict[str, Any]) -> List[Tuple[str, str]]:
        """Return the diagnostic key/value pairs."""
        p50, p95 = self.latency()
        with self._lock:
            rows = [('latency_p50_ms', f'{p50:.2f}'), ('latency_p95_ms', f'{p95:.2f}'),
                    ('input_rate_hz', f'{self.inputs.rate():.2f}'),
                    ('output_rate_hz', f'{self.outputs.rate():.2f}'),
                    ('inputs', str(self.inputs.count)), ('outputs', str(self.outputs.count)),
                    ('dropped_frames', str(dropped)),
                    ('rejected_inputs', str(sum(self.rejected.values())))]
            rows += [(f'rejected.{k}', str(v)) for k, v in sorted(self.rejected.items())]
        rows += [(str(k), str(v)) for k, v in extra.items()]
        return rows


def diagnostic_array(types: MessageTypes, stamp_ns: int, name: str, level: str, message: str,
                     values: List[Tuple[str, str]], hardware_id: str = '') -> Any:
    """
    Return a diagnostic_msgs/DiagnosticArray with one status.

    ``level`` is 'OK', 'WARN', 'ERROR' or 'STALE'; the value comes from the class constant,
    which is ``bytes`` in rclpy (``byte level``) and ``int`` in rosbags.
    """
    status_cls = resolve(types, 'diagnostic_msgs/msg/DiagnosticStatus')
    key_value = resolve(types, 'diagnostic_msgs/msg/KeyValue')
    status = new(status_cls, level=getattr(status_cls, level), name=name, message=message,
                 hardware_id=hardware_id,
                 values=[new(key_value, key=k, value=v) for k, v in values])
    return new(resolve(types, 'diagnostic_msgs/msg/DiagnosticArray'),
               header=make_header(types, stamp_ns, ''), status=[status])
