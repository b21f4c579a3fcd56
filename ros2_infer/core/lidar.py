"""
Planar lidar: scan to points (with deskew), projection into a camera and robust box ranges.

Every scan is read with its own ``angle_min``/``angle_increment`` (Gazebo's LDS uses 0.017493
rad, not 1°). Beams that are NaN, inf, 0.0 or outside ``[range_min, range_max]`` are no return.
"""

from collections.abc import Callable

import numpy as np

from ros2_infer.core.camera import PinholeCamera
from ros2_infer.core.geometry import se2_between, se2_compose, se2_transform_points
from ros2_infer.core.sensors import LaserScan


def valid_mask(scan: LaserScan) -> np.ndarray:
    """Return the beams that carry a return (finite, non-zero and inside the range limits)."""
    r = np.asarray(scan.ranges, dtype=float)
    with np.errstate(invalid='ignore'):
        return np.isfinite(r) & (r > 0.0) & (r >= scan.range_min) & (r <= scan.range_max)


def scan_points(scan: LaserScan) -> tuple[np.ndarray, np.ndarray]:
    """
    Return the (M, 2) points of the valid beams in the scan frame and their beam indices.

    No deskew: each point is where its beam hit, in the sensor frame at the beam's own time.
    """
    mask = valid_mask(scan)
    idx = np.nonzero(mask)[0]
    r = np.asarray(scan.ranges, dtype=float)[idx]
    a = scan.angle_min + scan.angle_increment * idx
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1), idx


def deskewed_points(scan: LaserScan, sensor_in_base: np.ndarray,
                    odom_at: Callable[[int], np.ndarray | None], target_stamp_ns: int,
                    deskew: bool = True) -> np.ndarray | None:
    """
    Return the scan's points in the base frame at ``target_stamp_ns``, motion compensated.

    :param sensor_in_base: SE(2) pose of the lidar in the base frame ``(x, y, yaw)``.
    :param odom_at: odometry pose (SE(2), odom frame) at a stamp, or None when unknown.
    :param target_stamp_ns: the stamp the points are expressed at (e.g. an image's stamp).
    :param deskew: use ``time_increment`` to place each beam at its own time; otherwise the
        whole sweep is taken at the header stamp (an instantaneous scanner).
    :return: (M, 2) points, or None if odometry does not cover the needed stamps.
    """
    pts, idx = scan_points(scan)
    pts = se2_transform_points(sensor_in_base, pts)
    target = odom_at(target_stamp_ns)
    start = odom_at(scan.stamp_ns)
    if target is None or start is None:
        return None
    duration = scan.time_increment * max(len(scan.ranges) - 1, 0)
    if deskew and scan.time_increment > 0.0 and duration > 0.0:
        end = odom_at(scan.stamp_ns + int(duration * 1e9))
        if end is None:
            return None
        motion = se2_between(start, end)           # base motion over the sweep
        frac = (idx * scan.time_increment) / duration
        # Beam poses interpolated along the sweep; move each point into the start frame.
        bx, by, bt = frac * motion[0], frac * motion[1], frac * motion[2]
        c, s = np.cos(bt), np.sin(bt)
        pts = np.stack([bx + c * pts[:, 0] - s * pts[:, 1],
                        by + s * pts[:, 0] + c * pts[:, 1]], axis=1)
    rel = se2_between(target, start)               # start frame expressed in target frame
    return se2_transform_points(rel, pts)


def project_points(points_base: np.ndarray, z_base: float, cam_from_base: np.ndarray,
                   camera: PinholeCamera) -> tuple[np.ndarray, np.ndarray]:
    """
    Project planar base-frame points at height ``z_base`` into the image.

    :param cam_from_base: 4x4 transform base -> optical frame.
    :return: ``(uv (M, 2), depth (M,))``; points behind the camera have NaN pixels.
    """
    m = points_base.shape[0]
    homog = np.concatenate([points_base, np.full((m, 1), z_base), np.ones((m, 1))], axis=1)
    cam = (cam_from_base @ homog.T).T[:, :3]
    uv, front = camera.project(cam)
    depth = np.where(front, cam[:, 2], np.nan)
    return uv, depth


def points_in_box(uv: np.ndarray, box: np.ndarray, shrink: float = 0.1,
                  v_tolerance: float = 4.0) -> np.ndarray:
    """
    Select projected points inside a box.

    ``box`` is xyxy in CameraInfo pixel coordinates; the horizontal span is shrunk by
    ``shrink`` of its width on each side (box edges bleed onto the background); vertically
    the scan line only has to fall within the box ± ``v_tolerance`` px.
    """
    x1, y1, x2, y2 = box
    w = x2 - x1
    u, v = uv[:, 0], uv[:, 1]
    with np.errstate(invalid='ignore'):
        return ((u >= x1 + shrink * w) & (u <= x2 - shrink * w)
                & (v >= y1 - v_tolerance) & (v <= y2 + v_tolerance))


def nearest_cluster(points: np.ndarray, origin: np.ndarray, gap: float = 0.15,
                    min_points: int = 2) -> np.ndarray:
    """
    Return the points of the nearest dense range cluster seen from ``origin``.

    Points are sorted by range; the first cluster (consecutive ranges closer than ``gap``)
    with at least ``min_points`` is kept: the object in front, not the wall behind it.
    """
    if points.shape[0] == 0:
        return points
    ranges = np.linalg.norm(points - origin, axis=1)
    order = np.argsort(ranges)
    r = ranges[order]
    breaks = np.nonzero(np.diff(r) > gap)[0]
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks + 1, [r.size]])
    for s, e in zip(starts, ends):
        if e - s >= min_points:
            return points[order[s:e]]
    return points[order[:0]]


def robust_range(points: np.ndarray, origin: np.ndarray) -> float:
    """Median range of ``points`` from ``origin`` (NaN for no points)."""
    if points.shape[0] == 0:
        return float('nan')
    return float(np.median(np.linalg.norm(points - origin, axis=1)))


def se2_of_matrix_2d(m: np.ndarray) -> np.ndarray:
    """Planar part ``(x, y, yaw)`` of a 4x4 transform (helper for the sensor mount)."""
    return np.array([m[0, 3], m[1, 3], float(np.arctan2(m[1, 0], m[0, 0]))])


__all__ = ['valid_mask', 'scan_points', 'deskewed_points', 'project_points', 'points_in_box',
           'nearest_cluster', 'robust_range', 'se2_of_matrix_2d', 'se2_compose']
