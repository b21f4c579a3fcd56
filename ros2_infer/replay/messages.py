"""
Small duck-typed readers from ROS messages (rosbags' or rclpy's) to core types.

Private to the replay driver: ``ros2_infer.conversions`` did not exist when this was written.
"""

import numpy as np

from ros2_infer.core.detections import Detections
from ros2_infer.core.sensors import CameraInfo, LaserScan, PoseStamped, Transform


def stamp_ns(header) -> int:
    """Return a header's stamp in integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def _vec(v) -> np.ndarray:
    return np.array([v.x, v.y, v.z], dtype=float)


def _quat(q) -> np.ndarray:
    return np.array([q.x, q.y, q.z, q.w], dtype=float)


def camera_info(msg) -> CameraInfo:
    """Convert sensor_msgs/CameraInfo."""
    return CameraInfo(int(msg.width), int(msg.height), np.asarray(msg.k, float).reshape(3, 3),
                      np.asarray(msg.d, float).copy(), msg.distortion_model or 'plumb_bob',
                      msg.header.frame_id, stamp_ns(msg.header))


def laser_scan(msg) -> LaserScan:
    """Convert sensor_msgs/LaserScan (0.0, inf and out-of-range become NaN)."""
    r = np.asarray(msg.ranges, dtype=np.float32).copy()
    with np.errstate(invalid='ignore'):
        bad = ~np.isfinite(r) | (r <= 0.0) | (r < msg.range_min) | (r > msg.range_max)
    r[bad] = np.nan
    return LaserScan(stamp_ns(msg.header), msg.header.frame_id, float(msg.angle_min),
                     float(msg.angle_increment), float(msg.time_increment),
                     float(msg.scan_time), float(msg.range_min), float(msg.range_max), r)


def odometry(msg) -> PoseStamped:
    """Convert nav_msgs/Odometry."""
    p = msg.pose
    return PoseStamped(stamp_ns(msg.header), msg.header.frame_id, _vec(p.pose.position),
                       _quat(p.pose.orientation),
                       np.asarray(p.covariance, float).reshape(6, 6).copy(),
                       msg.child_frame_id, _vec(msg.twist.twist.linear),
                       _vec(msg.twist.twist.angular))


def pose_stamped(msg) -> PoseStamped:
    """Convert PoseWithCovarianceStamped or PoseStamped (no covariance: zeros)."""
    pose = msg.pose
    if hasattr(pose, 'covariance'):
        cov = np.asarray(pose.covariance, float).reshape(6, 6).copy()
        pose = pose.pose
    else:
        cov = np.zeros((6, 6))
    return PoseStamped(stamp_ns(msg.header), msg.header.frame_id, _vec(pose.position),
                       _quat(pose.orientation), cov)


def transforms(msg) -> list[Transform]:
    """Convert tf2_msgs/TFMessage."""
    return [Transform(stamp_ns(t.header), t.header.frame_id, t.child_frame_id,
                      _vec(t.transform.translation), _quat(t.transform.rotation))
            for t in msg.transforms]


def detections_2d(msg, class_names) -> tuple[int, Detections]:
    """
    Convert vision_msgs/Detection2DArray (centre + size, CameraInfo pixel centres).

    Boxes become continuous-pixel xyxy (``+0.5``); ids are dropped on purpose: the pipeline
    associates by geometry, never by an oracle's identity.
    """
    names = list(class_names)
    boxes, scores, ids = [], [], []
    for det in msg.detections:
        if not det.results:
            continue
        hyp = max(det.results, key=lambda r: r.hypothesis.score).hypothesis
        if hyp.class_id not in names:
            names.append(hyp.class_id)
        c = det.bbox.center.position
        w, h = det.bbox.size_x, det.bbox.size_y
        boxes.append([c.x - w / 2 + 0.5, c.y - h / 2 + 0.5, c.x + w / 2 + 0.5,
                      c.y + h / 2 + 0.5])
        scores.append(hyp.score)
        ids.append(names.index(hyp.class_id))
    if not boxes:
        return stamp_ns(msg.header), Detections.empty(names)
    return stamp_ns(msg.header), Detections(np.asarray(boxes, np.float32),
                                            np.asarray(scores, np.float32),
                                            np.asarray(ids, np.int64), names)


def ground_truth_objects(msg) -> list[tuple[str, str, np.ndarray]]:
    """Return ``(id, class, position)`` of a ground-truth Detection3DArray (evaluator only)."""
    return [(d.id, d.results[0].hypothesis.class_id, _vec(d.bbox.center.position))
            for d in msg.detections]
