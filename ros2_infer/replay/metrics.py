"""
Evaluation against the bag's ground truth (the only reader of ``/ground_truth/*``).

ATE is the RMSE of the translation error in the map frame *without alignment* (alignment would
hide a bias), each stream taken at its own header stamps with the ground truth (50 Hz)
interpolated there — the same definition as evo's ``evo_ape`` translation part with no ``-a``.
"""

import math

import numpy as np

from ros2_infer.core.geometry import PoseHistory, wrap_angle
from ros2_infer.replay import messages as conv
from ros2_infer.rosbag.reader import iter_messages


def ground_truth(bag) -> tuple[PoseHistory, dict]:
    """Return the ground-truth pose history and ``{id: (class, position)}`` of the objects."""
    hist = PoseHistory(max_age_ns=10 ** 15)
    objects = {}
    for item in iter_messages(bag, ['/ground_truth/pose', '/ground_truth/objects']):
        if item.topic == '/ground_truth/pose':
            o = conv.odometry(item.msg)
            hist.add(o.stamp_ns, (o.position[0], o.position[1], o.yaw()))
        elif not objects:
            for ident, cls, pos in conv.ground_truth_objects(item.msg):
                objects[ident] = (cls, pos)
    return hist, objects


def errors(stream, gt: PoseHistory, t_min_ns: int = 0) -> np.ndarray:
    """Return (N, 4) rows ``(t s, ex, ey, eyaw)`` of a stream of ``(stamp, x, y, yaw, ...)``."""
    rows = []
    for row in stream:
        stamp = row[0]
        if stamp < t_min_ns:
            continue
        truth = gt.at(stamp)
        if truth is None:
            continue
        rows.append((stamp * 1e-9, row[1] - truth[0], row[2] - truth[1],
                     float(wrap_angle(row[3] - truth[2]))))
    return np.asarray(rows, dtype=float).reshape(-1, 4)


def ate(stream, gt: PoseHistory, t_min_ns: int = 0) -> dict:
    """Unaligned ATE RMSE (m), yaw RMSE (deg), max error and sample count."""
    e = errors(stream, gt, t_min_ns)
    if e.shape[0] == 0:
        return {'ate_rmse_m': None, 'yaw_rmse_deg': None, 'max_m': None, 'n': 0}
    d = np.hypot(e[:, 1], e[:, 2])
    return {'ate_rmse_m': float(math.sqrt(np.mean(d ** 2))),
            'yaw_rmse_deg': float(math.degrees(math.sqrt(np.mean(e[:, 3] ** 2)))),
            'max_m': float(d.max()), 'n': int(e.shape[0])}


def slam_running_mean(slam, stream, gt: PoseHistory, t_min_ns: int = 0) -> dict:
    """
    Measure what SLAM alone leaves a causal estimator: its running mean error, at ``stream``.

    With SLAM the only absolute reference (no saved map), even an estimator that knew the
    robot's relative motion exactly could only average the SLAM errors received so far: at a
    stamp t it is left with the mean error of the SLAM poses stamped up to t (equal weights).
    Its RMSE over ``stream``'s stamps is a reference for the fused pose, not a strict bound
    (weights other than equal fit a correlated SLAM error better or worse on a given run).
    ``run_mean_m`` is the whole run's mean SLAM error, which an online map inherits. Only
    ``stream``'s stamps from ``t_min_ns`` on count; every SLAM pose does.
    """
    e = errors(slam, gt)
    if e.shape[0] == 0:
        return {'ate_rmse_m': None, 'run_mean_m': None}
    running = np.cumsum(e[:, 1:3], axis=0) / np.arange(1, e.shape[0] + 1)[:, None]
    stamps = np.array([row[0] * 1e-9 for row in stream
                       if row[0] >= t_min_ns and gt.at(row[0]) is not None])
    k = np.searchsorted(e[:, 0], stamps, side='right') - 1
    left = running[k[k >= 0]]
    return {'ate_rmse_m': float(np.sqrt(np.mean(np.sum(left ** 2, axis=1)))) if len(left)
            else None,
            'run_mean_m': float(np.hypot(*e[:, 1:3].mean(axis=0)))}


def odometry_in_map(odom, gt: PoseHistory) -> list:
    """Odometry placed in the map by the true pose at its first stamp (the spawn)."""
    if not odom:
        return []
    t0 = next((o for o in odom if gt.at(o[0]) is not None), None)
    if t0 is None:
        return []
    truth = gt.at(t0[0])
    dyaw = truth[2] - t0[3]
    c, s = math.cos(dyaw), math.sin(dyaw)
    out = []
    for t, x, y, yaw in odom:
        dx, dy = x - t0[1], y - t0[2]
        out.append((t, truth[0] + c * dx - s * dy, truth[1] + s * dx + c * dy, yaw + dyaw))
    return out


def object_errors(landmarks, gt_objects: dict) -> list[float]:
    """Distance from each mapped landmark to the nearest true object of its class (m)."""
    out = []
    for lm in landmarks:
        best = min((np.linalg.norm(np.asarray(lm.position[:2]) - pos[:2])
                    for cls, pos in gt_objects.values() if cls == lm.class_name),
                   default=None)
        if best is not None:
            out.append(float(best))
    return out
