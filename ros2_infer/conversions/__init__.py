"""
ROS messages <-> ros2_infer core types, by field name (rclpy messages and rosbags classes).

Every malformed message raises :class:`MessageError` (an ``InputError``), never anything else:
the nodes turn it into a throttled warning and keep running.
"""

from ros2_infer.conversions._common import (
    copy_header, has_type, make_header, make_time, MessageError, MessageTypes, resolve,
    stamp_ns)
from ros2_infer.conversions.camera_info import (
    camera_info_from_msg, camera_info_to_msg, project_points)
from ros2_infer.conversions.geometry import (
    make_pose, pose_from_odometry, pose_from_pose_stamped,
    pose_from_pose_with_covariance_stamped, pose_to_msg, transform_from_msg, transform_to_msg,
    transforms_from_tf)
from ros2_infer.conversions.images import (
    array_to_compressed, array_to_image, compressed_to_array, depth_to_metres, ENCODINGS,
    image_for_model, image_to_array, native)
from ros2_infer.conversions.markers import objects_to_markers
from ros2_infer.conversions.scan import scan_from_msg, scan_to_msg, scan_to_points
from ros2_infer.conversions.structures import Object3D
from ros2_infer.conversions.vision import (
    detections_from_msg, detections_to_msg, label_info_to_msg, objects_from_msg,
    objects_to_msg, VisionTypes)

__all__ = [
    'array_to_compressed', 'array_to_image', 'camera_info_from_msg', 'camera_info_to_msg',
    'compressed_to_array', 'copy_header', 'depth_to_metres', 'detections_from_msg',
    'detections_to_msg',
    'ENCODINGS', 'has_type', 'image_for_model', 'image_to_array', 'label_info_to_msg',
    'make_header', 'make_pose', 'make_time', 'MessageError', 'MessageTypes', 'native',
    'Object3D', 'objects_from_msg', 'objects_to_markers', 'objects_to_msg',
    'pose_from_odometry', 'pose_from_pose_stamped', 'pose_from_pose_with_covariance_stamped',
    'pose_to_msg', 'project_points', 'resolve', 'scan_from_msg', 'scan_to_msg',
    'scan_to_points', 'stamp_ns', 'transform_from_msg', 'transform_to_msg',
    'transforms_from_tf', 'VisionTypes',
]
