"""
Per-topic timing: rate, phase, stamp jitter and delivery latency.

A sensor's k-th stamp is ``phase + k / rate + jitter`` (jitter ~ N(0, ``jitter``) clipped to
+-3 sigma and to a quarter period, so stamps stay ordered); its bag log time is
``stamp + latency + U(0, latency_jitter)``. Phases are drawn per run from the timing random
stream, so sensors do not tick together, and :class:`StampRegistry` nudges any stamp that
would collide with another topic's stamp by 1 ns.
"""

from dataclasses import dataclass
import math

import numpy as np


@dataclass(frozen=True)
class TopicTiming:
    """Timing of one stream: rate (Hz), stamp jitter (s), latency and its jitter (s)."""

    rate: float
    jitter: float
    latency: float
    latency_jitter: float


DEFAULT_TIMING: dict[str, TopicTiming] = {
    'camera': TopicTiming(30.0, 0.001, 0.030, 0.005),
    'scan': TopicTiming(5.0, 0.002, 0.010, 0.002),
    'imu': TopicTiming(200.0, 0.0002, 0.002, 0.0005),
    'odom': TopicTiming(30.0, 0.0005, 0.005, 0.001),
    'joint_states': TopicTiming(30.0, 0.0005, 0.005, 0.001),
    'ground_truth_pose': TopicTiming(50.0, 0.0, 0.001, 0.0),
    'ground_truth_objects': TopicTiming(1.0, 0.0, 0.001, 0.0),
    'clock': TopicTiming(100.0, 0.0, 0.0, 0.0),
    'slam': TopicTiming(5.0, 0.0, 0.150, 0.020),  # rate = the scan rate (amcl, slam_toolbox)
}
GROUND_TRUTH_EXTRA_LATENCY = 0.002  # /ground_truth/detections, depth: image latency + this


def stamps(timing: TopicTiming, duration: float, rng: np.random.Generator,
           phase: float | None = None) -> np.ndarray:
    """Return the stamp times (ns) of a stream over the interval [0, duration)."""
    period = 1.0 / timing.rate
    if phase is None:
        phase = float(rng.uniform(0.0, period))
    n = max(int(math.floor((duration - phase) / period)) + 1, 0)
    t = phase + np.arange(n) * period
    if timing.jitter > 0:
        lim = min(3 * timing.jitter, period / 4)
        t = t + np.clip(rng.normal(0.0, timing.jitter, n), -lim, lim)
    t = t[(t >= 0) & (t < duration)]
    return np.round(t * 1e9).astype(np.int64)


def latencies(timing: TopicTiming, count: int, rng: np.random.Generator,
              extra: float = 0.0) -> np.ndarray:
    """Return the given number of delays (ns) for a stream."""
    lat = timing.latency + extra + rng.uniform(0.0, timing.latency_jitter, count)
    return np.round(lat * 1e9).astype(np.int64)


class StampRegistry:
    """Keeps stamps of different streams distinct (a collision is moved by 1 ns)."""

    def __init__(self) -> None:
        """Start with no stamps taken."""
        self._used: set[int] = set()

    def take(self, values: np.ndarray) -> np.ndarray:
        """Return ``values`` with every stamp made unique against all earlier streams."""
        out = values.copy()
        for i, v in enumerate(out):
            v = int(v)
            while v in self._used:
                v += 1
            self._used.add(v)
            out[i] = v
        return out
