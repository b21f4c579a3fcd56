"""
Read a rosbag2 (MCAP or sqlite3) in log-time order, deserialised.

Messages come in the order they arrived (bag log time), never re-sorted by header stamp:
offline consumers see exactly what a live node would have seen, late messages included.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ros2_infer.core.errors import InputError


@dataclass(frozen=True)
class BagMessage:
    """One message of a bag: topic, type, log (arrival) time in ns and the decoded message."""

    topic: str
    msgtype: str
    log_time_ns: int
    msg: Any


def _open_reader(path: str | Path):
    from rosbags.highlevel import AnyReader

    from ros2_infer.rosbag.typestore import get_typestore

    path = Path(path)
    if not path.exists():
        raise InputError(f'bag not found: {path}')
    try:
        reader = AnyReader([path], default_typestore=get_typestore())
        reader.open()
    except Exception as error:  # noqa: B902 - rosbags raises several unrelated types
        raise InputError(f'cannot open bag {path}: {error}') from error
    return reader


def topic_types(path: str | Path) -> dict[str, str]:
    """Return ``{topic: msgtype}`` for every topic of the bag at ``path``."""
    reader = _open_reader(path)
    try:
        return {conn.topic: conn.msgtype for conn in reader.connections}
    finally:
        reader.close()


def iter_messages(path: str | Path, topics: Iterable[str] | None = None,
                  *, raw: bool = False) -> Iterator[BagMessage]:
    """
    Iterate over the messages of a bag in log-time (arrival) order.

    :param path: bag directory (rosbag2, MCAP or sqlite3 storage).
    :param topics: only these topics (all when None); unknown topics are ignored.
    :param raw: yield the serialised CDR bytes instead of decoded messages.
    :return: an iterator of :class:`BagMessage`.
    """
    reader = _open_reader(path)
    try:
        wanted = None if topics is None else set(topics)
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        if not conns:
            return
        for conn, log_time, data in reader.messages(connections=conns):
            msg = data if raw else reader.deserialize(data, conn.msgtype)
            yield BagMessage(conn.topic, conn.msgtype, int(log_time), msg)
    finally:
        reader.close()
