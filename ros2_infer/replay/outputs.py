"""Output bag (fused pose, objects, landmarks, detections), metrics.json and PNG plots."""

import json
import math
from pathlib import Path

import numpy as np

from ros2_infer.core.geometry import yaw_to_quat
from ros2_infer.core.pipeline import FusedPose, MapObject, Output
from ros2_infer.replay import metrics as M

POSE_TOPIC = '/fusion/pose'
OBJECTS_TOPIC = '/fusion/objects'
OBJECTS_BASE_TOPIC = '/fusion/objects_base'
LANDMARKS_TOPIC = '/fusion/landmarks'
MAP_TO_ODOM_TOPIC = '/fusion/map_to_odom'
DETECTIONS_TOPIC = '/detections'       # the detector node's output, per image


class OutputBag:
    """Write pipeline outputs as ROS messages (log time = the input's arrival time)."""

    def __init__(self, path, map_frame: str = 'map', base_frame: str = 'base_footprint',
                 odom_frame: str = 'odom') -> None:
        """Open ``path`` (a new bag directory) and declare the output topics."""
        from ros2_infer.rosbag.typestore import get_typestore
        from ros2_infer.rosbag.writer import BagWriter
        self.t = get_typestore().types
        self.map_frame = map_frame
        self.base_frame = base_frame
        self.odom_frame = odom_frame
        self.bag = BagWriter(path).open()
        self.bag.add_topic(POSE_TOPIC, 'geometry_msgs/msg/PoseWithCovarianceStamped')
        self.bag.add_topic(MAP_TO_ODOM_TOPIC, 'geometry_msgs/msg/TransformStamped')
        self.bag.add_topic(OBJECTS_TOPIC, 'vision_msgs/msg/Detection3DArray')
        self.bag.add_topic(OBJECTS_BASE_TOPIC, 'vision_msgs/msg/Detection3DArray')
        self.bag.add_topic(LANDMARKS_TOPIC, 'vision_msgs/msg/Detection3DArray')
        self.bag.add_topic(DETECTIONS_TOPIC, 'vision_msgs/msg/Detection2DArray')
        self.vision = None
        self.last_log = 0

    def _header(self, stamp: int, frame: str):
        t = self.t
        return t['std_msgs/msg/Header'](stamp=t['builtin_interfaces/msg/Time'](
            sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000), frame_id=frame)

    def _pose(self, xyz, q):
        t = self.t
        return t['geometry_msgs/msg/Pose'](
            position=t['geometry_msgs/msg/Point'](x=float(xyz[0]), y=float(xyz[1]),
                                                  z=float(xyz[2])),
            orientation=t['geometry_msgs/msg/Quaternion'](x=float(q[0]), y=float(q[1]),
                                                          z=float(q[2]), w=float(q[3])))

    def _detection(self, header, ident: str, cls: str, score: float, pos, cov3, size):
        t = self.t
        cov = np.zeros((6, 6))
        cov[:3, :3] = cov3
        pose = self._pose(pos, (0.0, 0.0, 0.0, 1.0))
        return t['vision_msgs/msg/Detection3D'](
            header=header,
            results=[t['vision_msgs/msg/ObjectHypothesisWithPose'](
                hypothesis=t['vision_msgs/msg/ObjectHypothesis'](class_id=cls,
                                                                 score=float(score)),
                pose=t['geometry_msgs/msg/PoseWithCovariance'](pose=pose,
                                                               covariance=cov.ravel()))],
            bbox=t['vision_msgs/msg/BoundingBox3D'](
                center=pose, size=t['geometry_msgs/msg/Vector3'](
                    x=float(size[0]), y=float(size[1]), z=float(size[2]))),
            id=ident)

    def write(self, log_ns: int, out: Output) -> None:
        """Write one pipeline output."""
        t = self.t
        log_ns = max(int(log_ns), self.last_log)
        self.last_log = log_ns
        if out.kind == 'pose':
            fp: FusedPose = out.data
            cov = np.zeros((6, 6))
            cov[np.ix_([0, 1, 5], [0, 1, 5])] = fp.covariance
            msg = t['geometry_msgs/msg/PoseWithCovarianceStamped'](
                header=self._header(out.stamp_ns, self.map_frame),
                pose=t['geometry_msgs/msg/PoseWithCovariance'](
                    pose=self._pose((fp.pose[0], fp.pose[1], 0.0), yaw_to_quat(fp.pose[2])),
                    covariance=cov.ravel()))
            self.bag.write(POSE_TOPIC, msg, log_ns)
            q = yaw_to_quat(fp.map_to_odom[2])
            tf = t['geometry_msgs/msg/TransformStamped'](
                header=self._header(out.stamp_ns, self.map_frame), child_frame_id=self.odom_frame,
                transform=t['geometry_msgs/msg/Transform'](
                    translation=t['geometry_msgs/msg/Vector3'](
                        x=float(fp.map_to_odom[0]), y=float(fp.map_to_odom[1]), z=0.0),
                    rotation=t['geometry_msgs/msg/Quaternion'](
                        x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))))
            self.bag.write(MAP_TO_ODOM_TOPIC, tf, log_ns)
        elif out.kind == 'objects':
            header = self._header(out.stamp_ns, self.map_frame)
            dets = []
            for mo in out.data:
                mo: MapObject
                if not np.all(np.isfinite(mo.position_map)):
                    continue
                ident = '' if mo.landmark_id is None else str(mo.landmark_id)
                dets.append(self._detection(header, ident, mo.object.class_name,
                                            mo.object.score, mo.position_map,
                                            mo.covariance_map, mo.object.size))
            self.bag.write(OBJECTS_TOPIC, t['vision_msgs/msg/Detection3DArray'](
                header=header, detections=dets), log_ns)
            # The same objects in the base frame at the image stamp, with their own covariance.
            header = self._header(out.stamp_ns, self.base_frame)
            dets = [self._detection(header, '' if mo.landmark_id is None else
                                    str(mo.landmark_id), mo.object.class_name, mo.object.score,
                                    mo.object.position, mo.object.covariance, mo.object.size)
                    for mo in out.data]
            self.bag.write(OBJECTS_BASE_TOPIC, t['vision_msgs/msg/Detection3DArray'](
                header=header, detections=dets), log_ns)

    def write_detections(self, log_ns: int, stamp: int, frame_id: str, detections) -> None:
        """Write one image's 2D detections (stamped with the image, in its frame)."""
        from ros2_infer.conversions.vision import detections_to_msg, VisionTypes

        if self.vision is None:
            self.vision = VisionTypes(self.t)
        log_ns = max(int(log_ns), self.last_log)
        self.last_log = log_ns
        self.bag.write(DETECTIONS_TOPIC, detections_to_msg(
            detections, self._header(stamp, frame_id), self.vision), log_ns)

    def write_landmarks(self, log_ns: int, stamp: int, landmarks) -> None:
        """Write the landmark map once (at the end of the replay)."""
        header = self._header(stamp, self.map_frame)
        dets = [self._detection(header, str(lm.id), lm.class_name, 1.0, lm.position,
                                np.zeros((3, 3)), lm.size) for lm in landmarks]
        self.bag.write(LANDMARKS_TOPIC, self.t['vision_msgs/msg/Detection3DArray'](
            header=header, detections=dets), max(int(log_ns), self.last_log))

    def close(self) -> None:
        """Finish the bag."""
        self.bag.close()


def compute_metrics(bag, streams, landmarks, t_min_ns: int = 0) -> dict:
    """
    Return the metrics dictionary of one replay (see :mod:`ros2_infer.replay.metrics`).

    Accuracy needs the simulator's ``/ground_truth/*``; a robot's own bag has none, and then
    only what was produced and what it cost are reported.
    """
    times = np.array([ms for _, ms in streams.timings_ms]) if streams.timings_ms else \
        np.zeros(1)
    out = {'outputs': {'fused_poses': len(streams.fused), 'slam_poses': len(streams.slam),
                       'objects': len(streams.objects), 'landmarks': len(landmarks)},
           'cost_ms': {'median': float(np.median(times)),
                       'p99': float(np.percentile(times, 99)),
                       'max': float(times.max()), 'events': int(times.size)},
           'stats': streams.stats}
    gt, objs = M.ground_truth(bag)
    if len(gt) == 0:
        out['ground_truth'] = 'none in the bag (/ground_truth/pose): no accuracy metrics'
        return out
    out.update({
        'odometry': M.ate(M.odometry_in_map(streams.odom, gt), gt, t_min_ns),
        'slam': M.ate(streams.slam, gt, t_min_ns),
        'slam_plus_odometry': M.ate(streams.slam_odom, gt, t_min_ns),
        'fusion': M.ate(streams.fused, gt, t_min_ns),
        # what SLAM alone leaves a causal estimator (docs/localization.md)
        'slam_running_mean': M.slam_running_mean(streams.slam, streams.fused, gt, t_min_ns),
    })
    errs = M.object_errors(landmarks, objs)
    out['object_map'] = {'n': len(errs),
                         'median_error_m': float(np.median(errs)) if errs else None,
                         'max_error_m': float(np.max(errs)) if errs else None}
    return out


def plot(bag, streams, landmarks, out_dir: Path) -> list[Path]:
    """Write trajectory.png (over the landmark map) and, with ground truth, error.png."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    gt, objs = M.ground_truth(bag)
    paths = []
    fig, ax = plt.subplots(figsize=(7, 7))
    if len(gt):
        g = np.array(gt.poses)
        ax.plot(g[:, 0], g[:, 1], 'k-', lw=1, label='ground truth')
    for name, rows, style in (('odometry', M.odometry_in_map(streams.odom, gt), 'c-'),
                              ('SLAM', streams.slam, 'r.'), ('fusion', streams.fused, 'b-')):
        if rows:
            a = np.array([r[:3] for r in rows], dtype=float)
            ax.plot(a[:, 1], a[:, 2], style, lw=1, ms=3, label=name)
    for lm in landmarks:
        ax.add_patch(plt.Circle(lm.position[:2], max(lm.size[0], lm.size[1]) / 2, fill=False,
                                color='g'))
        ax.annotate(f'{lm.id}:{lm.class_name}', lm.position[:2], fontsize=6)
    for cls, pos in objs.values():
        ax.plot(pos[0], pos[1], 'g+', ms=6)
    ax.set_aspect('equal')
    ax.set_xlabel('x (m)')
    ax.set_ylabel('y (m)')
    ax.legend(loc='upper right', fontsize=7)
    ax.set_title('trajectory over the landmark map (map frame)')
    paths.append(out_dir / 'trajectory.png')
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    if len(gt) == 0:
        return paths                    # a robot's own bag: no error to plot
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for name, rows in (('odometry', M.odometry_in_map(streams.odom, gt)),
                       ('SLAM', streams.slam), ('SLAM+odom', streams.slam_odom),
                       ('fusion', streams.fused)):
        e = M.errors(rows, gt)
        if e.shape[0]:
            ax.plot(e[:, 0], np.hypot(e[:, 1], e[:, 2]), lw=1, label=name)
    ax.set_xlabel('stamp (s)')
    ax.set_ylabel('position error (m)')
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    paths.append(out_dir / 'error.png')
    fig.savefig(paths[-1], dpi=110, bbox_inches='tight')
    plt.close(fig)
    return paths


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as JSON (sets become sorted lists, NaN becomes null)."""
    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple, set)):
            return [clean(x) for x in (sorted(v) if isinstance(v, set) else v)]
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, np.generic):
            return clean(v.item())
        return v
    path.write_text(json.dumps(clean(data), indent=2))
