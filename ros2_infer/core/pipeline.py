"""
The per-message fusion state machine that a ROS node or the offline replay drives.

Call ``on_tf``, ``on_odom``, ``on_scan``, ``on_camera_info``, ``on_detections``,
``on_slam_pose`` and ``on_initial_pose`` in arrival order. Everything is done at each message's
own stamp: measurements wait in a queue until odometry covers their stamp (they usually arrive
late), scans are deskewed and moved to the image stamp with odometry, the camera mount comes
from /tf_static. Outputs are returned as :class:`Output` events (fused pose at odometry rate,
objects per image, landmarks). Faults (missing TF, empty or NaN scans, a time jump backwards,
out-of-order or stale input) are counted in ``faults`` and logged at most once per
``log_period`` of stamp time per kind.
"""

from collections import deque
from dataclasses import dataclass, field, replace
import logging
import math

import numpy as np

from ros2_infer.core.camera import PinholeCamera
from ros2_infer.core.depth_fit import fit_scale_shift
from ros2_infer.core.detections import Detections
from ros2_infer.core.geometry import (invert_matrix, matrix_to_se2, PoseHistory, quat_to_yaw,
                                      se2_between, se2_compose, se2_to_matrix, TfBuffer,
                                      yaw_to_quat)
from ros2_infer.core.landmark_map import (clip_eigenvalues, Cov2, cov2_matrix, cov2_tuple,
                                          Landmark, split_offset_covariance)
from ros2_infer.core.landmarks import LandmarkMap, Observation
from ros2_infer.core.lidar import deskewed_points, project_points, valid_mask
from ros2_infer.core.localizer import Localizer, LocalizerConfig, sanitize_covariance
from ros2_infer.core.objects import Object3D, ObjectEstimator
from ros2_infer.core.sensors import CameraInfo, LaserScan, PoseStamped, Transform

LOG = logging.getLogger('ros2_infer.fusion')
SEC = 1_000_000_000
SLAM_DEFAULT_SIGMA = {'amcl': (0.06, 0.06, 0.03), 'slam_toolbox': (0.06, 0.06, 0.03),
                      'cartographer': (0.06, 0.06, 0.03)}
# An initial pose without a covariance: RViz's 2D Pose Estimate (0.5 m, 15 degrees).
INITIAL_POSE_SIGMA = (0.5, 0.5, math.radians(15.0))


@dataclass
class PipelineConfig:
    """Frames and policies (all frame names are parameters)."""

    map_frame: str = 'map'
    odom_frame: str = 'odom'
    base_frame: str = 'base_footprint'
    camera_frame: str = ''                 # '' = the CameraInfo's frame_id
    deskew: bool = True
    slam_style: str = 'auto'               # auto, amcl, slam_toolbox, cartographer, none
    # none: no SLAM input at all; an initial pose (on_initial_pose) starts the estimate and
    # the landmarks (a known map) hold it.
    # (x, y, yaw) in the map frame, given as an initial pose at the first odometry message and
    # again after every reset (a simulation reset puts the robot back at its start): AMCL's
    # set_initial_pose. None: the first SLAM pose or an on_initial_pose call starts.
    initial_pose: tuple | None = None
    use_landmarks: bool = True
    use_slam: bool = True
    online_map: bool = True                # add new landmarks while running
    min_score: float = 0.4
    max_scan_age_ns: int = int(0.25 * SEC)
    max_wait_ns: int = int(1.0 * SEC)      # a measurement waiting longer for odometry is dropped
    time_jump_ns: int = int(1.0 * SEC)
    log_period_ns: int = int(5.0 * SEC)
    # Cartographer publishes map->odom at up to 200 Hz (pose_publish_period_sec 5 ms), but it
    # changes only as fast as its scan matching: a SLAM factor per transform would add a
    # keyframe every 5 ms and count one estimate many times. One per period of the stamps is
    # kept (the LDS scan rate); 0 keeps every transform.
    slam_tf_min_period_ns: int = int(0.2 * SEC)
    # AMCL started from a rough initial pose reports a large covariance until it converges.
    # SLAM poses with a larger x/y σ (after slam_inflate) count as not converged: when the
    # stream then converges somewhere the estimate does not agree with, that is believed at
    # once unless the landmarks refute it (the estimate only had the unconverged poses).
    slam_converged_sigma: float = 0.3
    kidnap_after_ns: int = int(2.0 * SEC)  # persistent SLAM disagreement before relocalising
    kidnap_min_count: int = 3
    kidnap_blind_ns: int = int(30.0 * SEC)  # the same without landmark evidence
    depth_range: tuple = (0.05, 10.0)      # metres kept of a depth image fitted to the lidar
    depth_min_samples: int = 12            # lidar returns in the image a relative fit needs
    localizer: LocalizerConfig = field(default_factory=LocalizerConfig)


def initial_pose(stamp_ns: int, map_frame: str, pose) -> PoseStamped:
    """Return an initial pose ``(x, y, yaw)`` as ``on_initial_pose`` takes it (RViz's sigma)."""
    x, y, yaw = (float(v) for v in pose)
    return PoseStamped(int(stamp_ns), map_frame, np.array([x, y, 0.0]), yaw_to_quat(yaw),
                       np.zeros((6, 6)))


@dataclass
class Output:
    """One pipeline output: ``kind`` is 'pose', 'objects' or 'landmarks'."""

    kind: str
    stamp_ns: int
    data: object


@dataclass
class FusedPose:
    """Fused pose of base in map at an odometry stamp, its covariance and map->odom."""

    pose: np.ndarray                 # (x, y, yaw)
    covariance: np.ndarray           # (3, 3), x/y in map
    map_to_odom: np.ndarray          # (x, y, yaw)
    odom: np.ndarray                 # (x, y, yaw) odometry at the stamp


@dataclass
class MapObject:
    """A 3D detection in the map frame with covariance, and its landmark id (or None)."""

    object: Object3D  # noqa: A003 - the detection this map object came from
    position_map: np.ndarray         # (3,)
    covariance_map: np.ndarray       # (3, 3)
    landmark_id: int | None
    ambiguous: bool = False


class FusionPipeline:
    """See the module docstring."""

    def __init__(self, config: PipelineConfig | None = None,
                 known_map: list[Landmark] | None = None,
                 known_map_sigma: float = 0.03,
                 known_map_offset_covariance: Cov2 | None = None) -> None:
        """
        Create the pipeline; ``known_map`` switches from an online map to a prior map.

        :param known_map_sigma: 1-σ (m) of known landmarks that carry no covariance.
        :param known_map_offset_covariance: the shared offset of a map saved by a mapping run
            (``LandmarkMapFile.offset_covariance``).
        """
        self.config = config or PipelineConfig()
        self.known_map = list(known_map) if known_map else None
        self.known_map_sigma = known_map_sigma
        self.known_map_offset = known_map_offset_covariance if self.known_map else None
        self.estimator = ObjectEstimator()
        self.faults: dict[str, int] = {}
        self._last_log: dict[str, int] = {}
        self.tf = TfBuffer()
        self.reset(reason=None)

    # ------------------------------------------------------------------ bookkeeping
    def reset(self, reason: str | None = 'reset') -> None:
        """Forget all dynamic state (static TF and the known map are kept)."""
        if reason:
            self._fault('reset', f'pipeline reset: {reason}')
        self.tf.clear(keep_static=True)
        self.odom = PoseHistory(max_age_ns=20 * SEC)
        self.last_odom_stamp: int | None = None
        self.scans: deque = deque(maxlen=8)
        self.camera: PinholeCamera | None = None
        self.pending: list[tuple[int, int, str, object]] = []   # (stamp, seq, kind, payload)
        self._seq = 0
        self.localizer = Localizer(self.config.localizer, None if self.known_map_offset is None
                                   else cov2_matrix(self.known_map_offset))
        self.map = LandmarkMap(self.known_map, self.known_map_sigma,
                               offset_covariance=self.known_map_offset)
        self.slam_seen_pose_topic = False
        self.slam_unconverged = False         # the estimate rests on unconverged SLAM poses
        self.slam_tf_last_slot: int | None = None
        self.slam_tf_thinned = 0              # map->odom transforms of a period already fused
        self.slam_stamps: deque = deque(maxlen=64)
        self.rejected: list[tuple[int, np.ndarray]] = []
        self.recent_obs: deque = deque(maxlen=60)   # (stamp, [(class, map point)])
        self.last_slam_stamp = None
        self._initial_pose_due = self.config.initial_pose is not None
        self.timings: dict[str, list] = {}
        self._tentative: dict[int, list] = {}

    def _fault(self, kind: str, message: str, stamp_ns: int | None = None) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + 1
        now = stamp_ns if stamp_ns is not None else (self.last_odom_stamp or 0)
        last = self._last_log.get(kind)
        if last is None or abs(now - last) >= self.config.log_period_ns:
            self._last_log[kind] = now
            LOG.warning('%s (x%d)', message, self.faults[kind])

    def _odom_at(self, stamp_ns: int) -> np.ndarray | None:
        return self.odom.at(stamp_ns)

    # ------------------------------------------------------------------ inputs
    def on_tf(self, transforms: list[Transform], static: bool = False) -> list[Output]:
        """Store TF edges; map->odom on /tf is also a SLAM input (Cartographer style)."""
        out: list[Output] = []
        for t in transforms:
            if not (np.all(np.isfinite(t.translation)) and np.all(np.isfinite(t.rotation))):
                self._fault('bad_tf', f'non-finite transform {t.parent_frame}->{t.child_frame}')
                continue
            parent, child = t.parent_frame.lstrip('/'), t.child_frame.lstrip('/')
            if not static and parent == self.config.map_frame and \
                    child == self.config.odom_frame:
                out += self._slam_from_tf(t)
                continue
            if not static and child == self.config.base_frame:
                continue        # odometry comes from /odom (same data, with covariance)
            self.tf.set_transform(parent, child, t.stamp_ns, t.translation, t.rotation, static)
        return out

    def on_camera_info(self, info: CameraInfo) -> list[Output]:
        """Take the camera model (distortion included)."""
        if info.width <= 0 or info.height <= 0 or not np.all(np.isfinite(info.k)) or \
                info.fx <= 0:
            self._fault('bad_camera_info', 'invalid CameraInfo ignored')
            return []
        if self.camera is None or not np.array_equal(self.camera.info.k, info.k) or \
                not np.array_equal(self.camera.info.d, info.d):
            self.camera = PinholeCamera(info)
        return []

    def on_scan(self, scan: LaserScan) -> list[Output]:
        """Buffer a scan (NaN/0/inf/out-of-range beams are no return)."""
        if not np.any(valid_mask(scan)):
            self._fault('empty_scan', 'scan without any valid return', scan.stamp_ns)
            return []
        if scan.angle_increment == 0.0 or not math.isfinite(scan.angle_increment):
            self._fault('bad_scan', 'scan with invalid angle_increment', scan.stamp_ns)
            return []
        self.scans.append(scan)
        return []

    def on_odom(self, msg: PoseStamped) -> list[Output]:
        """Add an odometry sample; process the measurements it unblocks; output the pose."""
        stamp = msg.stamp_ns
        if not (np.all(np.isfinite(msg.position)) and np.all(np.isfinite(msg.orientation))):
            self._fault('bad_odom', 'non-finite odometry ignored', stamp)
            return []
        if self.last_odom_stamp is not None and stamp < self.last_odom_stamp:
            if self.last_odom_stamp - stamp > self.config.time_jump_ns:
                self.reset(f'time jumped back {(self.last_odom_stamp - stamp) / SEC:.2f} s')
            else:
                self._fault('odom_out_of_order', 'odometry out of order (kept)', stamp)
        pose = np.array([msg.position[0], msg.position[1], quat_to_yaw(msg.orientation)])
        self.odom.add(stamp, pose)
        self.last_odom_stamp = max(stamp, self.last_odom_stamp or stamp)
        out = []
        if self._initial_pose_due:
            self._initial_pose_due = False
            out += self.on_initial_pose(initial_pose(stamp, self.config.map_frame,
                                                     self.config.initial_pose))
        out += self._process_pending()
        if self.localizer.initialized:
            fused, cov = self.localizer.predict(pose, stamp)
            m2o = se2_compose(fused, se2_between(pose, np.zeros(3)))
            out.append(Output('pose', stamp, FusedPose(fused, cov, m2o, pose)))
        return out

    def on_slam_pose(self, msg: PoseStamped, style: str = 'amcl') -> list[Output]:
        """Queue a (late) SLAM pose: AMCL/slam_toolbox PoseWithCovarianceStamped or PoseStamped."""
        if self.config.slam_style not in ('auto', style):
            return []
        self.slam_seen_pose_topic = True
        pose = np.array([msg.position[0], msg.position[1], quat_to_yaw(msg.orientation)])
        if not np.all(np.isfinite(pose)):
            self._fault('bad_slam', 'non-finite SLAM pose ignored', msg.stamp_ns)
            return []
        cov = sanitize_covariance(msg.covariance, SLAM_DEFAULT_SIGMA.get(style, (0.06,) * 3),
                                  self.config.localizer.slam_min_sigma,
                                  self.config.localizer.slam_inflate)
        return self._queue(msg.stamp_ns, 'slam', (pose, cov, False))

    def on_initial_pose(self, msg: PoseStamped) -> list[Output]:
        """
        Start again at a pose the user gives (RViz's 2D Pose Estimate on /initialpose).

        As AMCL takes it: in the map frame only; a zero stamp means now (the newest odometry),
        a stamp ahead of the odometry by more than ``max_wait`` (a wall-clock stamp against sim
        time) is a fault and taken as now too. The graph starts again at the pose with its
        covariance (RViz sends 0.5 m and 15 degrees); SLAM poses and landmarks then refine it,
        and a SLAM stream that persistently disagrees is judged as a kidnap is.
        """
        if msg.frame_id.lstrip('/') != self.config.map_frame:
            self._fault('initial_pose_frame', f'initial pose in frame {msg.frame_id!r} ignored: '
                        f'expected {self.config.map_frame!r}', msg.stamp_ns)
            return []
        pose = np.array([msg.position[0], msg.position[1], quat_to_yaw(msg.orientation)])
        if not np.all(np.isfinite(pose)):
            self._fault('bad_initial_pose', 'non-finite initial pose ignored', msg.stamp_ns)
            return []
        if self.last_odom_stamp is None:
            self._fault('initial_pose_early', 'initial pose before any odometry ignored: give '
                        'it again once odometry runs', msg.stamp_ns)
            return []
        stamp = msg.stamp_ns
        if stamp > self.last_odom_stamp + self.config.max_wait_ns:
            self._fault('initial_pose_stamp', f'initial pose stamped '
                        f'{(stamp - self.last_odom_stamp) / SEC:.1f} s ahead of the odometry '
                        '(use_sim_time?): taken as now', stamp)
            stamp = self.last_odom_stamp
        elif stamp == 0:
            stamp = self.last_odom_stamp
        cov = sanitize_covariance(msg.covariance, INITIAL_POSE_SIGMA,
                                  self.config.localizer.slam_min_sigma)
        return self._queue(stamp, 'initial_pose', (pose, cov))

    def _handle_initial_pose(self, stamp, odom, pose, cov) -> list[Output]:
        self._fault('initial_pose', 'initial pose given: starting again there', stamp)
        self.slam_unconverged = False
        self._relocalise(stamp, odom, pose, cov, from_slam=False)
        return []

    def _slam_from_tf(self, t: Transform) -> list[Output]:
        if self.config.slam_style not in ('auto', 'cartographer'):
            return []
        if self.config.slam_style == 'auto' and self.slam_seen_pose_topic:
            return []           # the same estimate already came as a pose message
        # One per period of the stamp clock (not per period since the last one kept: with
        # jittered 20 Hz stamps that would keep one in five instead of one in four). A late
        # transform of a period already past is skipped too (a time jump back resets).
        period = self.config.slam_tf_min_period_ns
        slot = t.stamp_ns // period if period > 0 else t.stamp_ns
        if self.slam_tf_last_slot is not None and slot <= self.slam_tf_last_slot:
            self.slam_tf_thinned += 1
            return []
        self.slam_tf_last_slot = slot
        m2o = np.array([t.translation[0], t.translation[1], quat_to_yaw(t.rotation)])
        cov = sanitize_covariance(None, SLAM_DEFAULT_SIGMA['cartographer'],
                                  self.config.localizer.slam_min_sigma,
                                  self.config.localizer.slam_inflate)
        return self._queue(t.stamp_ns, 'slam', (m2o, cov, True))

    def on_detections(self, stamp_ns: int, detections: Detections,
                      depth: np.ndarray | None = None,
                      relative_depth: bool = False) -> list[Output]:
        """
        Queue one image's 2D detections (stamp = the image's).

        :param depth: the same image's depth, for objects the scan misses (below its plane):
            metric z-depth in metres (REP 118, NaN invalid), or with ``relative_depth`` a
            relative inverse depth, which is fitted (scale and shift) to the scan returns that
            land in the image at its stamp.
        """
        return self._queue(stamp_ns, 'detections', (detections, depth, relative_depth))

    # ------------------------------------------------------------------ queue
    def _queue(self, stamp: int, kind: str, payload) -> list[Output]:
        if self.last_odom_stamp is not None and \
                stamp < self.last_odom_stamp - self.odom.max_age_ns // 2:
            self._fault('stale', f'{kind} at a stamp older than the odometry history', stamp)
            return []
        self._seq += 1
        self.pending.append((stamp, self._seq, kind, payload))
        return self._process_pending()

    def _process_pending(self) -> list[Output]:
        out: list[Output] = []
        if not self.pending or self.last_odom_stamp is None:
            return out
        ready = [p for p in self.pending if p[0] <= self.last_odom_stamp]
        if not ready:
            return out
        self.pending = [p for p in self.pending if p[0] > self.last_odom_stamp
                        and p[0] < self.last_odom_stamp + self.config.max_wait_ns * 5]
        for stamp, _, kind, payload in sorted(ready, key=lambda p: (p[0], p[1])):
            odom = self._odom_at(stamp)
            if odom is None:
                self._fault('no_odom', f'no odometry at the stamp of a {kind}', stamp)
                continue
            if kind == 'slam':
                out += self._handle_slam(stamp, odom, *payload)
            elif kind == 'initial_pose':
                out += self._handle_initial_pose(stamp, odom, *payload)
            else:
                out += self._handle_detections(stamp, odom, *payload)
        return out

    # ------------------------------------------------------------------ SLAM
    def _handle_slam(self, stamp, odom, value, cov, is_map_to_odom) -> list[Output]:
        if stamp in self.slam_stamps:
            return []
        self.slam_stamps.append(stamp)
        pose = se2_compose(value, odom) if is_map_to_odom else value
        if not self.config.use_slam and self.localizer.initialized:
            return []
        loc = self.localizer
        coarse = math.sqrt(max(cov[0, 0], cov[1, 1])) >= self.config.slam_converged_sigma
        if not loc.initialized:
            loc.initialize(stamp, odom, pose, cov)
            self.slam_unconverged = coarse
            return []
        if self.last_slam_stamp is not None and stamp < self.last_slam_stamp:
            self._fault('slam_out_of_order', 'SLAM pose older than the previous one', stamp)
        self.last_slam_stamp = max(stamp, self.last_slam_stamp or stamp)
        accepted, d2 = loc.add_pose_measurement(stamp, odom, pose, cov)
        if accepted:
            self.rejected.clear()
            self.slam_unconverged = self.slam_unconverged and coarse
            loc.update()
            return []
        self._fault('slam_rejected', f'SLAM pose rejected (Mahalanobis² {d2:.1f})', stamp)
        kf = loc.nearest(stamp)
        err = pose - loc.estimate(kf)
        self.rejected = self.rejected[-20:] + [(stamp, err)]
        if self.slam_unconverged and not coarse:
            scores = self._hypothesis_scores(stamp, pose, loc.estimate(kf))
            if scores is None or scores[1] >= scores[0] - 0.1:
                self._fault('slam_converged', 'SLAM converged away from the unconverged poses '
                            'the estimate started from: relocalising', stamp)
                self.slam_unconverged = False
                if self.known_map is None:
                    # the online landmarks were placed from the unconverged poses
                    self.map = LandmarkMap(None, self.known_map_sigma)
                self._relocalise(stamp, odom, pose, cov)
                return []
        if self._kidnap_confirmed(stamp, pose, loc.estimate(kf)):
            self._fault('relocalized', 'persistent SLAM offset not contradicted by landmarks: '
                        'relocalising', stamp)
            self._relocalise(stamp, odom, pose, cov)
            return []
        loc.update()
        return []

    def _relocalise(self, stamp, odom, pose, cov, from_slam: bool = True) -> None:
        """Start the graph again at the SLAM pose (or a user's: ``from_slam`` False)."""
        self.rejected.clear()
        self.localizer.initialize(stamp, odom, pose, cov, from_slam=from_slam)
        self.map.drop_tentative()
        self.localizer.update()

    def _kidnap_confirmed(self, stamp, slam_pose, est_pose) -> bool:
        """
        Whether the SLAM stream's persistent disagreement is a real relocalisation.

        Recent lidar object observations are scored against the map under both hypotheses
        (current estimate, and the estimate moved onto the SLAM pose): the SLAM pose is
        accepted unless it explains clearly fewer of them. Without observations only a long,
        consistent disagreement (``kidnap_blind_ns``) is believed.
        """
        r = self.rejected
        if len(r) < self.config.kidnap_min_count or \
                r[-1][0] - r[0][0] < self.config.kidnap_after_ns:
            return False
        errs = np.array([e[:2] for _, e in r])
        consistent = np.max(np.linalg.norm(errs - errs.mean(axis=0), axis=1)) <= 0.3
        scores = self._hypothesis_scores(r[-1][0], slam_pose, est_pose)
        if scores is None:
            return consistent and r[-1][0] - r[0][0] >= self.config.kidnap_blind_ns
        here, there = scores
        # Accept unless the landmarks refute the SLAM pose (identical pillars on a grid can
        # make both hypotheses look right: then the persistent SLAM stream wins).
        return there >= 0.5 and there >= here - 0.1

    def _hypothesis_scores(self, stamp, slam_pose, est_pose) -> tuple | None:
        """
        Fractions of the last 3 s of lidar object observations the map explains.

        ``(here, there)``: with the current estimate, and with the estimate moved onto the
        SLAM pose; None with fewer than 3 observations.
        """
        frames = [f for f in self.recent_obs if f[0] >= stamp - 3 * SEC]
        points = [(cls, p) for _, pts in frames for cls, p in pts]
        if len(points) < 3:
            return None
        corr = se2_compose(slam_pose, se2_between(est_pose, np.zeros(3)))
        return self._explained(points, np.zeros(3)), self._explained(points, corr)

    def _explained(self, points, correction) -> float:
        """Fraction of map-frame observations within 0.3 m of a same-class landmark."""
        rot = se2_to_matrix(correction)
        hits = 0
        for cls, p in points:
            q = (rot @ np.array([p[0], p[1], 0.0, 1.0]))[:2]
            if any(lm.class_name == cls and np.linalg.norm(lm.position - q) < 0.3
                   for lm in self.map.landmarks.values() if lm.confirmed):
                hits += 1
        return hits / max(len(points), 1)

    # ------------------------------------------------------------------ detections
    def _scan_near(self, stamp) -> LaserScan | None:
        best = None
        for scan in self.scans:
            if scan.stamp_ns > (self.last_odom_stamp or 0):
                continue        # odometry does not cover this sweep yet
            dt = abs(scan.stamp_ns - stamp)
            if dt <= self.config.max_scan_age_ns and \
                    (best is None or dt < abs(best.stamp_ns - stamp)):
                best = scan
        return best

    def _handle_detections(self, stamp, odom, detections: Detections, depth,
                           relative_depth: bool) -> list[Output]:
        if self.camera is None:
            self._fault('no_camera_info', 'detections before CameraInfo: skipped', stamp)
            return []
        cam_frame = self.config.camera_frame or self.camera.frame_id
        base_from_cam = self.tf.lookup(self.config.base_frame, cam_frame, stamp)
        if base_from_cam is None:
            self._fault('missing_tf', f'no TF {self.config.base_frame}<-{cam_frame}', stamp)
            return []
        keep = detections.scores >= self.config.min_score
        if not np.all(keep):
            detections = Detections(detections.boxes[keep], detections.scores[keep],
                                    detections.class_ids[keep], detections.class_names)
        points = None
        scan_origin, scan_z = np.zeros(2), 0.0
        scan = self._scan_near(stamp)
        if scan is None:
            self._fault('no_scan', 'no scan near the image stamp: camera-only objects', stamp)
        else:
            base_from_scan = self.tf.lookup(self.config.base_frame, scan.frame_id, scan.stamp_ns)
            if base_from_scan is None:
                self._fault('missing_tf', f'no TF {self.config.base_frame}<-{scan.frame_id}',
                            stamp)
            else:
                mount = matrix_to_se2(base_from_scan)
                scan_origin, scan_z = mount[:2], float(base_from_scan[2, 3])
                points = deskewed_points(scan, mount, self._odom_at, stamp, self.config.deskew)
                if points is None:
                    self._fault('no_odom', 'odometry does not cover the scan sweep', stamp)
        cam_from_base = invert_matrix(base_from_cam)
        if depth is not None:
            depth = self._metric_depth(stamp, depth, relative_depth, points, scan_z,
                                       cam_from_base)
        objects = self.estimator.estimate(detections, self.camera, cam_from_base,
                                          points, scan_origin, scan_z, depth)
        loc = self.localizer
        if not loc.initialized:
            return [Output('objects', stamp, [MapObject(o, np.full(3, np.nan), np.eye(3),
                                                        None) for o in objects])]
        kf = loc.keyframe_at(stamp, odom)
        robot = se2_compose(loc.estimate(kf), se2_between(kf.odom, odom))
        # A floor on the pose uncertainty keeps the gate open for good lidar observations.
        pose_cov = loc.world_covariance() + np.diag([0.03 ** 2, 0.03 ** 2, 0.01 ** 2])
        rot = se2_to_matrix(robot)
        obs, map_objects = [], []
        for o in objects:
            p = rot @ np.append(o.position, 1.0)
            r2 = rot[:2, :2]
            cov_m = o.covariance.copy()
            cov_m[:2, :2] = r2 @ o.covariance[:2, :2] @ r2.T
            obs.append(Observation(o.class_name, p[:2], cov_m[:2, :2], robot, o.size))
            map_objects.append(MapObject(o, p[:3], cov_m, None))
        used = []
        if self.config.use_landmarks and obs:
            assoc = self.map.associate(obs, pose_cov)
            n_assoc = 0
            for i, ident in enumerate(assoc.ids):
                map_objects[i].ambiguous = assoc.ambiguous[i]
                o = objects[i]
                if ident is None:
                    if not assoc.ambiguous[i] and self.config.online_map and \
                            self.known_map is None and not self.rejected and o.source == 'lidar':
                        self._propose(obs[i], kf, self._at_keyframe(kf, odom, o), o)
                    continue
                map_objects[i].landmark_id = ident
                if o.source != 'lidar':
                    continue    # camera-only ranges are biased by a pixel: label, no factor
                n_assoc += 1
                lm = self.map.landmarks[ident]
                if not loc.has_landmark(ident):
                    if lm.prior is not None:
                        loc.add_landmark(ident, lm.prior[0], lm.prior[1], lm.prior[2])
                    else:
                        loc.add_landmark(ident, lm.position, None)
                loc.add_landmark_observation(kf, ident, self._at_keyframe(kf, odom, o),
                                             o.covariance[:2, :2])
                used.append(ident)
            self.recent_obs.append((stamp, [(ob.class_name, ob.position) for ob, o in
                                            zip(obs, objects) if o.source == 'lidar']))
        loc.update(used)
        for ident in used:
            if ident in loc.landmark_est:
                self.map.update_estimate(ident, loc.landmark_est[ident], None)
        if used:  # refresh the map positions of the objects with the updated pose
            robot = se2_compose(loc.estimate(kf), se2_between(kf.odom, odom))
            rot = se2_to_matrix(robot)
            for mo in map_objects:
                mo.position_map = (rot @ np.append(mo.object.position, 1.0))[:3]
        return [Output('objects', stamp, map_objects)]

    def _metric_depth(self, stamp, depth, relative, points, scan_z, cam_from_base):
        """Return the depth image in metres; None (a fault) if wrong-sized or not fitted."""
        depth = np.asarray(depth, np.float32)
        if depth.shape[:2] != (self.camera.height, self.camera.width):
            self._fault('depth_size', f'depth image {depth.shape[1]}x{depth.shape[0]} does not '
                        f'match CameraInfo {self.camera.width}x{self.camera.height}: not used',
                        stamp)
            return None
        if not relative:
            return depth
        if points is None or points.shape[0] == 0:
            self._fault('depth_fit', 'relative depth without a scan to fit it to: not used',
                        stamp)
            return None
        uv, z = project_points(points, scan_z, cam_from_base, self.camera)
        inside = np.all(np.isfinite(uv), axis=1) & np.isfinite(z) & (uv[:, 0] >= -0.5) & \
            (uv[:, 0] < self.camera.width - 0.5) & (uv[:, 1] >= -0.5) & \
            (uv[:, 1] < self.camera.height - 0.5)
        cols = np.rint(uv[inside, 0]).astype(np.int64)
        rows = np.rint(uv[inside, 1]).astype(np.int64)
        fit = fit_scale_shift(depth[rows, cols], z[inside],
                              min_samples=self.config.depth_min_samples)
        if not fit.ok:
            self._fault('depth_fit', f'relative depth not fitted to the scan: {fit.reason}',
                        stamp)
            return None
        return fit.apply(depth, *self.config.depth_range)

    @staticmethod
    def _at_keyframe(kf, odom, o: Object3D) -> np.ndarray:
        # The factor is relative to the keyframe: move the observation there by odometry.
        rel = se2_between(kf.odom, odom)
        c, s = math.cos(rel[2]), math.sin(rel[2])
        return rel[:2] + np.array([[c, -s], [s, c]]) @ o.position[:2]

    def _propose(self, obs: Observation, kf, point_kf: np.ndarray, o: Object3D) -> None:
        """Online map: buffer the observation; on confirmation add all of them as factors."""
        target, confirmed = self.map.propose(obs)
        if target is None:
            return
        self._tentative.setdefault(target, []).append((kf, point_kf, o.covariance[:2, :2]))
        if confirmed:
            lm = self.map.landmarks[target]
            self.localizer.add_landmark(target, lm.position, None)
            live = {k.key for k in self.localizer.keyframes}
            for kf_i, pt, cov in self._tentative.pop(target, []):
                if kf_i.key in live:
                    self.localizer.add_landmark_observation(kf_i, target, pt, cov)

    # ------------------------------------------------------------------ state
    def landmarks(self) -> list[Landmark]:
        """
        Return the current landmark map (confirmed landmarks).

        Positions are the localizer's smoothed estimates given everything seen so far (the map
        itself is refreshed only for the landmarks each update touched); the map's state, and
        so the association, is not changed by asking.
        """
        out = []
        for lm in self.map.to_landmarks():
            est = self.localizer.smoothed_landmark(lm.id) if self.localizer.initialized \
                else None
            if est is not None and np.all(np.isfinite(est)):
                lm = replace(lm, position=(float(est[0]), float(est[1]), lm.position[2]))
            out.append(lm)
        return out

    def export_map(self) -> tuple[list[Landmark], Cov2 | None]:
        """
        Return the landmark map with its uncertainty, as ``save_landmark_map`` writes it.

        The localizer's joint covariance of the landmarks is split into the offset they all
        share (mostly the run's mean SLAM error, which no landmark can see) and each one's own
        part (see ``landmark_map``). Without a joint covariance (fewer than two landmarks with
        a variable, or more than ``rebase_joint_max_landmarks``) the map carries none, and a
        localisation run treats it as a hand-written map.
        """
        landmarks = self.landmarks()
        loc = self.localizer
        observed = [lm.id for lm in landmarks if loc.initialized and loc.has_landmark(lm.id)]
        joint = None
        if 2 <= len(observed) <= self.config.localizer.rebase_joint_max_landmarks:
            joint = loc.landmark_joint_covariance(observed)
        if joint is None or not np.all(np.isfinite(joint)):
            return landmarks, None
        own, shared = split_offset_covariance(joint)
        # Kept positive definite (0.1 mm): a map file's covariances must be, to load again.
        shared = clip_eigenvalues(shared, 1e-8)
        own_of = dict(zip(observed, own))
        out = []
        for lm in landmarks:
            cov = own_of.get(lm.id)
            if cov is None:
                # Known but never seen: its prior, less the shared part the run has learnt.
                prior = self.map.landmarks[lm.id].prior if lm.id in self.map.landmarks else None
                if prior is None:
                    out.append(lm)
                    continue
                cov = clip_eigenvalues(prior[1] + (cov2_matrix(self.known_map_offset) - shared
                                                   if prior[2] else 0.0), 1e-6)
            out.append(replace(lm, covariance=cov2_tuple(cov)))
        return out, cov2_tuple(shared)

    def stats(self) -> dict:
        """Counters of the localizer, the map and the faults."""
        return {'localizer': dict(self.localizer.stats), 'map': dict(self.map.stats),
                'faults': dict(self.faults), 'pending': len(self.pending)}
