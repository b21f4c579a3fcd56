"""visualization_msgs/MarkerArray for :class:`Object3D` (landmarks and objects in RViz)."""

from typing import Any, Sequence, Tuple

import numpy as np

from ros2_infer.conversions._common import MessageTypes, new, resolve
from ros2_infer.conversions.geometry import make_pose
from ros2_infer.conversions.structures import Object3D

# visualization_msgs/Marker constants (identical in every ROS 2 distribution).
CYLINDER = 3
TEXT_VIEW_FACING = 9
ADD = 0
DELETEALL = 3


def _color(types: MessageTypes, name: str) -> Any:
    # A stable colour per class name, so a class keeps its colour across runs.
    hue = (sum(ord(c) * 31 ** i for i, c in enumerate(name)) % 360) / 60.0
    x = 1.0 - abs(hue % 2.0 - 1.0)
    rgb: Tuple[float, float, float] = [(1, x, 0), (x, 1, 0), (0, 1, x), (0, x, 1), (x, 0, 1),
                                       (1, 0, x)][int(hue) % 6]
    return new(resolve(types, 'std_msgs/msg/ColorRGBA'), r=float(rgb[0]), g=float(rgb[1]),
               b=float(rgb[2]), a=0.8)


def objects_to_markers(objects: Sequence[Object3D], header: Any, types: MessageTypes = None,
                       namespace: str = 'landmarks') -> Any:
    """
    Return a MarkerArray: DELETEALL, then a cylinder and a text label per object.

    Marker ids are 2*i and 2*i + 1, so the array fully replaces the previous one in RViz.
    """
    marker = resolve(types, 'visualization_msgs/msg/Marker')
    vector3 = resolve(types, 'geometry_msgs/msg/Vector3')
    duration = resolve(types, 'builtin_interfaces/msg/Duration')
    forever = new(duration, sec=0, nanosec=0)
    markers = [new(marker, header=header, ns=namespace, id=0, action=DELETEALL)]
    for index, obj in enumerate(objects):
        size = np.asarray(obj.size, np.float64)
        pose = make_pose(types, obj.position, obj.orientation)
        markers.append(new(
            marker, header=header, ns=namespace, id=2 * index, type=CYLINDER, action=ADD,
            pose=pose, scale=new(vector3, x=float(size[0]), y=float(size[1]), z=float(size[2])),
            color=_color(types, obj.class_name), lifetime=forever, frame_locked=False))
        label_position = np.asarray(obj.position, np.float64) + [0.0, 0.0, size[2] / 2 + 0.1]
        markers.append(new(
            marker, header=header, ns=namespace, id=2 * index + 1, type=TEXT_VIEW_FACING,
            action=ADD, pose=make_pose(types, label_position, [0.0, 0.0, 0.0, 1.0]),
            scale=new(vector3, x=0.0, y=0.0, z=0.15), color=_color(types, obj.class_name),
            lifetime=forever, frame_locked=False, text=f'{obj.class_name} {obj.id}'.strip()))
    return new(resolve(types, 'visualization_msgs/msg/MarkerArray'), markers=markers)
