"""
rosbag2 I/O without ROS 2: a Humble typestore with vision_msgs, a writer and a reader.

Built on `rosbags`. The typestore knows every ROS 2 Humble message type plus
vision_msgs 4.1; the writer embeds message definitions so that any rosbag2 or MCAP
reader can decode the bag; the reader yields messages in log-time (arrival) order.
"""

from ros2_infer.rosbag.reader import BagMessage, iter_messages, topic_types
from ros2_infer.rosbag.typestore import get_typestore
from ros2_infer.rosbag.writer import BagWriter, QOS_DEFAULT, QOS_SENSOR, QOS_TRANSIENT_LOCAL

__all__ = [
    'BagMessage', 'BagWriter', 'QOS_DEFAULT', 'QOS_SENSOR', 'QOS_TRANSIENT_LOCAL',
    'get_typestore', 'iter_messages', 'topic_types',
]
