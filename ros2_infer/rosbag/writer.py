"""
Write a rosbag2 (MCAP by default, sqlite3 optional) with message definitions embedded.

Every message is written with an explicit log (arrival) time. With ``reorder_window_ns`` the
writer keeps a small heap and writes messages in log-time order even when the caller produces
them slightly out of order (e.g. stamped at capture time, delivered after a latency).
"""

import heapq
import itertools
from pathlib import Path
from typing import Any

from ros2_infer.core.errors import InputError

# Names of the offered QoS profiles recorded in metadata.yaml (what `ros2 bag play` offers).
QOS_DEFAULT = 'default'
QOS_SENSOR = 'sensor_data'
QOS_TRANSIENT_LOCAL = 'transient_local'
STORAGES = ('mcap', 'sqlite3')


def make_qos(name: str):
    """
    Return a ``rosbags`` QoS profile for one of the names above.

    ``default``: reliable, volatile, keep-last 10; ``sensor_data``: best effort, volatile,
    keep-last 5 (rclpy ``qos_profile_sensor_data``); ``transient_local``: reliable,
    transient local, keep-last 1 (latched topics such as /tf_static and /amcl_pose).
    """
    from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness,
                                    QosReliability, QosTime)

    profiles = {
        QOS_DEFAULT: (10, QosReliability.RELIABLE, QosDurability.VOLATILE),
        QOS_SENSOR: (5, QosReliability.BEST_EFFORT, QosDurability.VOLATILE),
        QOS_TRANSIENT_LOCAL: (1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL),
    }
    if name not in profiles:
        raise InputError(f'unknown QoS profile {name!r}; expected one of {sorted(profiles)}')
    depth, reliability, durability = profiles[name]
    # rosbag2 writes "infinite" durations as the maximum signed 32-bit seconds/nanoseconds.
    infinite = QosTime(sec=2147483647, nsec=4294967295)
    return Qos(QosHistory.KEEP_LAST, depth, reliability, durability, infinite, infinite,
               QosLiveliness.AUTOMATIC, infinite, False)


class BagWriter:
    """
    A rosbag2 writer that serialises messages with the package typestore.

    Use as a context manager::

        with BagWriter('out/bag', storage='mcap') as bag:
            bag.add_topic('/scan', 'sensor_msgs/msg/LaserScan', qos=QOS_SENSOR)
            bag.write('/scan', scan_msg, log_time_ns)
    """

    def __init__(self, path: str | Path, *, storage: str = 'mcap',
                 reorder_window_ns: int = 0, typestore: Any = None) -> None:
        """
        Create the writer (the bag directory must not exist yet).

        :param path: bag directory to create.
        :param storage: ``'mcap'`` (default) or ``'sqlite3'``.
        :param reorder_window_ns: messages are held up to this long (in log time) and written
            in log-time order; a message older than what was already written raises.
        :param typestore: rosbags typestore; default :func:`get_typestore`.
        """
        from rosbags.rosbag2 import StoragePlugin, Writer

        from ros2_infer.rosbag.typestore import get_typestore

        if storage not in STORAGES:
            raise InputError(f'unknown bag storage {storage!r}; expected one of {STORAGES}')
        self.path = Path(path)
        if self.path.exists():
            raise InputError(f'{self.path} exists already, not overwriting')
        plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
        self.storage = storage
        self.typestore = typestore if typestore is not None else get_typestore()
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._connections: dict[str, tuple[Any, str]] = {}
        self._window = int(reorder_window_ns)
        self._heap: list[tuple[int, int, str, Any]] = []
        self._counter = itertools.count()
        self._last_written = -1
        self._open = False
        self.counts: dict[str, int] = {}

    def open(self) -> 'BagWriter':  # noqa: A003 - mirrors rosbags' Writer.open
        """Create the bag directory and storage file."""
        self._writer.open()
        self._open = True
        return self

    def __enter__(self) -> 'BagWriter':
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def add_topic(self, topic: str, msgtype: str, *, qos: str = QOS_DEFAULT) -> None:
        """Declare a topic of type ``msgtype`` (e.g. ``sensor_msgs/msg/Image``)."""
        if not self._open:
            raise InputError('BagWriter.add_topic called before open()')
        if topic in self._connections:
            raise InputError(f'topic {topic} added twice')
        try:
            self.typestore.get_msgdef(msgtype)
        except Exception as error:  # noqa: B902 - rosbags raises its own TypesysError
            raise InputError(f'unknown message type {msgtype!r}: {error}') from error
        conn = self._writer.add_connection(topic, msgtype, typestore=self.typestore,
                                           offered_qos_profiles=[make_qos(qos)])
        self._connections[topic] = (conn, msgtype)
        self.counts[topic] = 0

    def write(self, topic: str, msg: Any, log_time_ns: int) -> None:
        """Serialise ``msg`` (a typestore message object) and write it at ``log_time_ns``."""
        if topic not in self._connections:
            raise InputError(f'topic {topic} was not added to the bag')
        data = self.typestore.serialize_cdr(msg, self._connections[topic][1])
        self.write_raw(topic, data, log_time_ns)

    def write_raw(self, topic: str, data: bytes | memoryview, log_time_ns: int) -> None:
        """Write already CDR-serialised bytes at ``log_time_ns``."""
        if topic not in self._connections:
            raise InputError(f'topic {topic} was not added to the bag')
        log_time_ns = int(log_time_ns)
        if log_time_ns < 0:
            raise InputError(f'negative log time {log_time_ns} on {topic}')
        if self._window <= 0:
            self._emit(log_time_ns, topic, data)
            return
        if log_time_ns < self._last_written:
            raise InputError(
                f'message on {topic} at {log_time_ns} ns arrived more than the reorder window '
                f'({self._window} ns) after a later message')
        heapq.heappush(self._heap, (log_time_ns, next(self._counter), topic, data))
        self._drain(log_time_ns - self._window)

    def flush(self) -> None:
        """Write every held message (they are written in log-time order)."""
        self._drain(None)

    def close(self) -> None:
        """Write held messages, then close the storage and write metadata.yaml."""
        if not self._open:
            return
        self.flush()
        self._writer.close()
        self._open = False

    def _drain(self, until_ns: int | None) -> None:
        heap = self._heap
        while heap and (until_ns is None or heap[0][0] <= until_ns):
            log_time_ns, _, topic, data = heapq.heappop(heap)
            self._emit(log_time_ns, topic, data)

    def _emit(self, log_time_ns: int, topic: str, data: bytes | memoryview) -> None:
        self._last_written = max(self._last_written, log_time_ns)
        self._writer.write(self._connections[topic][0], log_time_ns, data)
        self.counts[topic] += 1
