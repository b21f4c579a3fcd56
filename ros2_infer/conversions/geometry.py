"""Odometry, PoseWithCovarianceStamped, PoseStamped and TF messages <-> the core's poses."""

from typing import Any, List

import numpy as np

from ros2_infer.conversions._common import (
    as_str, f64_field, float_array, frame_id, get, make_header, MessageError, MessageTypes, new,
    resolve, stamp_ns)
from ros2_infer.core.sensors import PoseStamped, Transform


def _numbers(values: List[Any], what: str) -> np.ndarray:
    if not all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
               for v in values):
        raise MessageError(f'{what} must be {len(values)} numbers')
    out = np.asarray(values, np.float64)
    if not np.all(np.isfinite(out)):
        raise MessageError(f'{what} must be finite, got {out.tolist()}')
    return out


def vector_from_msg(msg: Any, what: str = 'vector') -> np.ndarray:
    """Return a Point/Vector3 as 3 finite floats."""
    return _numbers([get(msg, 'x'), get(msg, 'y'), get(msg, 'z')], what)


def quaternion_from_msg(msg: Any, what: str = 'quaternion') -> np.ndarray:
    """Return a Quaternion as a unit (x, y, z, w) array."""
    q = _numbers([get(msg, 'x'), get(msg, 'y'), get(msg, 'z'), get(msg, 'w')], what)
    largest = float(np.max(np.abs(q)))
    if largest < 1e-6:
        raise MessageError(f'{what} is not a valid quaternion: {q.tolist()}')
    q = q / largest  # scaled first so huge components cannot overflow the norm
    return q / np.linalg.norm(q)


def _covariance(values: Any, what: str) -> np.ndarray:
    cov = float_array(values, what, 36)
    if not np.all(np.isfinite(cov)):
        raise MessageError(f'{what} must be finite')
    return cov.reshape(6, 6)


def pose_from_pose_with_covariance_stamped(msg: Any) -> PoseStamped:
    """Return the core PoseStamped of a geometry_msgs/PoseWithCovarianceStamped."""
    header = get(msg, 'header')
    with_cov = get(msg, 'pose')
    pose = get(with_cov, 'pose')
    return PoseStamped(stamp_ns=stamp_ns(header), frame_id=frame_id(header),
                       position=vector_from_msg(get(pose, 'position'), 'pose.position'),
                       orientation=quaternion_from_msg(get(pose, 'orientation'),
                                                       'pose.orientation'),
                       covariance=_covariance(get(with_cov, 'covariance'), 'pose.covariance'))


def pose_from_pose_stamped(msg: Any) -> PoseStamped:
    """Return the core PoseStamped (zero covariance: unknown) of a geometry_msgs/PoseStamped."""
    header = get(msg, 'header')
    pose = get(msg, 'pose')
    return PoseStamped(stamp_ns=stamp_ns(header), frame_id=frame_id(header),
                       position=vector_from_msg(get(pose, 'position'), 'pose.position'),
                       orientation=quaternion_from_msg(get(pose, 'orientation'),
                                                       'pose.orientation'))


def pose_from_odometry(msg: Any) -> PoseStamped:
    """Return the core PoseStamped of a nav_msgs/Odometry (pose, covariance and body twist)."""
    out = pose_from_pose_with_covariance_stamped(msg)
    out.child_frame_id = as_str(get(msg, 'child_frame_id'), 'child_frame_id')
    twist = get(get(msg, 'twist'), 'twist')
    out.linear_velocity = vector_from_msg(get(twist, 'linear'), 'twist.linear')
    out.angular_velocity = vector_from_msg(get(twist, 'angular'), 'twist.angular')
    return out


def transform_from_msg(msg: Any) -> Transform:
    """Return the core Transform of a geometry_msgs/TransformStamped."""
    header = get(msg, 'header')
    transform = get(msg, 'transform')
    child = as_str(get(msg, 'child_frame_id'), 'child_frame_id')
    parent = frame_id(header)
    if not parent or not child:
        raise MessageError(f'transform {parent!r} -> {child!r} needs both frame ids')
    return Transform(stamp_ns=stamp_ns(header), parent_frame=parent, child_frame=child,
                     translation=vector_from_msg(get(transform, 'translation'), 'translation'),
                     rotation=quaternion_from_msg(get(transform, 'rotation'), 'rotation'))


def transforms_from_tf(msg: Any) -> List[Transform]:
    """Return every transform of a tf2_msgs/TFMessage (``/tf`` or ``/tf_static``)."""
    transforms = get(msg, 'transforms')
    try:
        items = list(transforms)
    except TypeError:
        raise MessageError('TFMessage.transforms is not a sequence') from None
    return [transform_from_msg(item) for item in items]


def _point(types: MessageTypes, xyz: np.ndarray, name: str) -> Any:
    return new(resolve(types, name), x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def make_pose(types: MessageTypes, position: np.ndarray, orientation: np.ndarray) -> Any:
    """Return a geometry_msgs/Pose."""
    q = np.asarray(orientation, np.float64)
    return new(resolve(types, 'geometry_msgs/msg/Pose'),
               position=_point(types, position, 'geometry_msgs/msg/Point'),
               orientation=new(resolve(types, 'geometry_msgs/msg/Quaternion'), x=float(q[0]),
                               y=float(q[1]), z=float(q[2]), w=float(q[3])))


def pose_to_msg(pose: PoseStamped, types: MessageTypes = None) -> Any:
    """Return a geometry_msgs/PoseWithCovarianceStamped of a core PoseStamped."""
    cls = resolve(types, 'geometry_msgs/msg/PoseWithCovariance')
    return new(resolve(types, 'geometry_msgs/msg/PoseWithCovarianceStamped'),
               header=make_header(types, pose.stamp_ns, pose.frame_id),
               pose=new(cls, pose=make_pose(types, pose.position, pose.orientation),
                        covariance=f64_field(cls, np.asarray(pose.covariance))))


def transform_to_msg(transform: Transform, types: MessageTypes = None) -> Any:
    """Return a geometry_msgs/TransformStamped of a core Transform."""
    q = np.asarray(transform.rotation, np.float64)
    return new(resolve(types, 'geometry_msgs/msg/TransformStamped'),
               header=make_header(types, transform.stamp_ns, transform.parent_frame),
               child_frame_id=transform.child_frame,
               transform=new(resolve(types, 'geometry_msgs/msg/Transform'),
                             translation=_point(types, transform.translation,
                                                'geometry_msgs/msg/Vector3'),
                             rotation=new(resolve(types, 'geometry_msgs/msg/Quaternion'),
                                          x=float(q[0]), y=float(q[1]), z=float(q[2]),
                                          w=float(q[3]))))
