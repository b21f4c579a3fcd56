"""
A rosbags typestore for ROS 2 Humble plus vision_msgs 4.1.

The vision_msgs definitions are kept as ``.msg`` files in ``msg/vision_msgs`` next to this
module (vision_msgs 4.1: ``BoundingBox2D.center`` is a ``vision_msgs/Pose2D`` whose
``position`` is a ``vision_msgs/Point2D``; ``ObjectHypothesis`` has a string ``class_id``
and a float64 ``score``).
"""

import functools
from pathlib import Path

MSG_DIR = Path(__file__).resolve().parent / 'msg'


def extra_msg_texts() -> dict[str, str]:
    """Return ``{'vision_msgs/msg/Name': msg_text}`` for every ``.msg`` kept in the package."""
    texts = {}
    for path in sorted(MSG_DIR.glob('*/*.msg')):
        texts[f'{path.parent.name}/msg/{path.stem}'] = path.read_text(encoding='utf-8')
    return texts


@functools.cache
def get_typestore():
    """
    Return the shared typestore: ROS 2 Humble types plus vision_msgs 4.1.

    The typestore is cached; treat it as read-only.

    :return: a ``rosbags.typesys.store.Typestore``.
    """
    from rosbags.typesys import get_types_from_msg, get_typestore as rosbags_typestore, Stores

    store = rosbags_typestore(Stores.ROS2_HUMBLE)
    types = {}
    for name, text in extra_msg_texts().items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store
