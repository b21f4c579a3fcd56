"""
What the ``localizer`` node needs besides rclpy: parameters, core config, outputs (no ROS).

Kept apart from the node so that it is tested without ROS: the parameter table, the
:class:`~ros2_infer.core.pipeline.PipelineConfig` built from it, the SLAM input choices, the
fused pose / map->odom / map objects / landmarks turned into the conversions' types, and
:class:`FaultReporter`, which turns the core's fault counters into one throttled warning per
kind. The core has no such hooks itself, so they live here (``ros2_infer.core`` is not edited).
"""

from collections import OrderedDict
from dataclasses import replace
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ros2_infer.conversions.structures import Object3D
from ros2_infer.core.geometry import yaw_to_quat
from ros2_infer.core.landmark_map import Landmark
from ros2_infer.core.pipeline import FusedPose, MapObject, PipelineConfig, SEC
from ros2_infer.core.sensors import PoseStamped, Transform
from ros2_infer.nodes.params import Param

# slam.input -> the core's SLAM style (it picks the default covariance of the source).
SLAM_INPUTS: Dict[str, str] = {'amcl_pose': 'amcl', 'pose': 'slam_toolbox',
                               'tf': 'cartographer', 'none': 'none'}
POSE_TYPES = ('PoseWithCovarianceStamped', 'PoseStamped')

LOCALIZER_PARAMS: Tuple[Param, ...] = (
    Param('frames.map', 'map', 'Map frame: frame of objects, landmarks and the fused pose.',
          read_only=True),
    Param('frames.odom', 'odom', 'Odometry frame (nav_msgs/Odometry header.frame_id).',
          read_only=True),
    Param('frames.base', 'base_footprint', 'Robot base frame (Odometry child_frame_id).',
          read_only=True),
    Param('camera_frame', '', 'Optical frame of the camera (z forward) used for the camera '
          "mount TF. Empty: the camera_info's frame_id. Jazzy Gazebo stamps "
          "'camera_rgb_frame' (x forward): set 'camera_rgb_optical_frame' there.",
          read_only=True),
    Param('slam.input', 'amcl_pose', 'Where the SLAM/localization pose comes from: '
          "'amcl_pose' (PoseWithCovarianceStamped, transient local: AMCL), 'pose' "
          '(PoseStamped or PoseWithCovarianceStamped, see slam.pose_type: slam_toolbox '
          "localization), 'tf' (map->odom on /tf: Cartographer, slam_toolbox mapping) or "
          "'none' (no SLAM: an initialpose starts the estimate and a known landmark map holds "
          'it; with publish_map_to_odom the node is the map->odom source).',
          read_only=True, choices=tuple(SLAM_INPUTS)),
    Param('slam.pose_type', 'PoseWithCovarianceStamped', "Message type of 'pose' when "
          "slam.input is 'pose'.", read_only=True, choices=POSE_TYPES),
    Param('slam.use', True, 'Fuse SLAM poses after the first one (false: the first SLAM '
          'pose only initialises, then odometry + landmarks).'),
    Param('slam.gate', 25.0, 'Mahalanobis^2 gate of a SLAM pose (3 dof): larger ones are '
          'rejected (and, if persistent, trigger relocalisation).', low=1.0, high=1000.0),
    Param('slam.inflate', 1.6, 'Factor on the SLAM covariance (its error is correlated in '
          'time).', low=1.0, high=100.0),
    Param('slam.min_sigma_xy', 0.03, 'Floor (m) of the SLAM x/y standard deviation (AMCL '
          'may report tiny or zero covariance).', low=0.001, high=10.0),
    Param('slam.min_sigma_yaw', 0.015, 'Floor (rad) of the SLAM yaw standard deviation.',
          low=0.0005, high=3.0),
    Param('slam.bias_sigma_xy', 0.045, 'Stationary standard deviation (m) of the SLAM bias '
          'state: a slowly varying x/y error of the SLAM pose estimated with the pose. 0 '
          '(with slam.bias_sigma_yaw 0): no bias state, SLAM poses are independent priors.',
          read_only=True, low=0.0, high=10.0),
    Param('slam.bias_sigma_yaw', 0.02, 'Stationary standard deviation (rad) of the SLAM '
          'yaw bias.', read_only=True, low=0.0, high=3.0),
    Param('slam.bias_tau', 20.0, 'Correlation time (s) of the SLAM bias (first-order '
          'Gauss-Markov).', read_only=True, low=0.1, high=3600.0),
    Param('slam.white_scale', 0.5, 'With the bias state: the part of the (inflated) SLAM '
          'standard deviation that is white noise (the rest is the bias).', read_only=True,
          low=0.01, high=10.0),
    Param('slam.converged_sigma', 0.3, 'SLAM poses whose x/y standard deviation (m, after '
          'slam.inflate) is at least this count as not converged (AMCL from a rough initial '
          'pose): when the stream then converges away from the estimate, the estimate is '
          'relocalised at once unless the landmarks refute it.', low=0.01, high=100.0),
    Param('slam.tf_min_period', 0.2, "With slam.input 'tf': at most one map->odom transform "
          'is fused per period (s) of its stamps (Cartographer publishes it every 5 ms but it '
          'changes at the scan rate); the others are skipped. 0: every one.', low=0.0,
          high=10.0),
    Param('odom.drift_sigma_rate', 0.002, 'Prior standard deviation (rad/s) of the odometry '
          "heading drift state's time part (a gyro bias), estimated with the pose. 0 (with "
          'odom.drift_sigma_distance 0): no drift state.', read_only=True, low=0.0, high=1.0),
    Param('odom.drift_sigma_distance', 0.01, 'Prior standard deviation (rad/m) of the '
          "odometry heading drift state's distance part (unequal wheels).", read_only=True,
          low=0.0, high=1.0),
    Param('initial_pose.set', False, 'Start at initial_pose.x/y/yaw (frames.map) at the first '
          'odometry message, and again after a reset (the clock jumped back: a simulation '
          "reset), as AMCL's set_initial_pose (0.5 m, 15 degrees); otherwise the first SLAM "
          'pose or an initialpose message starts the estimate.',
          read_only=True),
    Param('initial_pose.x', 0.0, 'Initial x (m) in frames.map (initial_pose.set).',
          read_only=True, low=-1.0e5, high=1.0e5),
    Param('initial_pose.y', 0.0, 'Initial y (m) in frames.map (initial_pose.set).',
          read_only=True, low=-1.0e5, high=1.0e5),
    Param('initial_pose.yaw', 0.0, 'Initial yaw (rad) in frames.map (initial_pose.set).',
          read_only=True, low=-7.0, high=7.0),
    Param('map.mode', 'online', "'online': build the landmark map while running; 'known': "
          'localise against map.known_file (no new landmarks).', read_only=True,
          choices=('online', 'known')),
    Param('map.known_file', '', 'Landmark-map YAML loaded at configure when map.mode is '
          "'known'.", read_only=True),
    Param('map.known_sigma', 0.03, 'Standard deviation (m) of known landmarks whose file '
          'carries no covariance (a hand-written map).', read_only=True, low=0.001, high=10.0),
    Param('map.save_file', '', 'Where the landmark map is saved on cleanup/shutdown; '
          'empty: not saved.', read_only=True),
    Param('landmarks.use', True, 'Use landmark observations as factors of the pose.'),
    Param('landmarks.period', 1.0, "Seconds between 'landmarks' MarkerArray messages.",
          read_only=True, low=0.1, high=60.0),
    Param('objects.min_score', 0.4, 'Detections below this score are ignored.',
          low=0.0, high=1.0),
    Param('objects.use_depth', False, "Subscribe to 'depth' (the depth node's metric depth "
          'image, REP 118) and place the objects the scan misses by the depth of their own '
          'image (same stamp).', read_only=True),
    Param('fusion.max_scan_age', 0.25, 'Largest |scan stamp - image stamp| (s) of the scan '
          'used for an image.', low=0.0, high=5.0),
    Param('fusion.max_wait', 1.0, 'Seconds a measurement may wait for odometry to cover '
          'its stamp.', low=0.0, high=30.0),
    Param('fusion.deskew', True, 'Deskew scans with odometry.'),
    Param('fusion.time_jump', 1.0, 'A backwards odometry jump larger than this (s) resets '
          'the fusion (bag loop, simulation reset).', low=0.01, high=3600.0),
    Param('publish_map_to_odom', False, 'Broadcast the fused map->odom on /tf. Off by default: '
          "it would fight the SLAM node's own map->odom. Not allowed with slam.input 'tf'.",
          read_only=True),
    Param('diagnostics.period', 1.0, 'Seconds between /diagnostics messages.',
          read_only=True, low=0.1, high=60.0),
    Param('autostart', False, 'Configure and activate by itself (ros2 run, perception_node); '
          'the launch file drives the lifecycle transitions instead.', read_only=True),
)

# Parameters that may change while the node runs (applied to the live core config).
LIVE_PARAMS = ('slam.use', 'slam.gate', 'slam.inflate', 'slam.min_sigma_xy',
               'slam.min_sigma_yaw', 'landmarks.use', 'objects.min_score',
               'fusion.max_scan_age', 'fusion.max_wait', 'fusion.deskew', 'fusion.time_jump',
               'slam.tf_min_period', 'slam.converged_sigma')


def check_combination(values: Mapping[str, Any]) -> Optional[str]:
    """Return why a set of (individually valid) values does not work together, or None."""
    if values['publish_map_to_odom'] and values['slam.input'] == 'tf':
        return ("publish_map_to_odom cannot be used with slam.input 'tf': the node would read "
                'its own map->odom back as the SLAM input')
    if values['map.mode'] == 'known' and not values['map.known_file']:
        return "map.mode 'known' needs map.known_file (a landmark-map YAML)"
    return None


def apply_values(config: PipelineConfig, values: Mapping[str, Any]) -> PipelineConfig:
    """Write the parameter values into ``config`` in place (the live core sees them)."""
    config.use_slam = bool(values['slam.use'])
    config.use_landmarks = bool(values['landmarks.use'])
    config.min_score = float(values['objects.min_score'])
    config.max_scan_age_ns = int(values['fusion.max_scan_age'] * SEC)
    config.max_wait_ns = int(values['fusion.max_wait'] * SEC)
    config.deskew = bool(values['fusion.deskew'])
    config.time_jump_ns = int(values['fusion.time_jump'] * SEC)
    config.slam_tf_min_period_ns = int(values['slam.tf_min_period'] * SEC)
    config.slam_converged_sigma = float(values['slam.converged_sigma'])
    loc = config.localizer
    loc.slam_gate = float(values['slam.gate'])
    loc.slam_inflate = float(values['slam.inflate'])
    xy, yaw = float(values['slam.min_sigma_xy']), float(values['slam.min_sigma_yaw'])
    loc.slam_min_sigma = (xy, xy, yaw)
    bias_xy = float(values['slam.bias_sigma_xy'])
    loc.slam_bias_sigma = (bias_xy, bias_xy, float(values['slam.bias_sigma_yaw']))
    loc.slam_bias_tau = float(values['slam.bias_tau'])
    loc.slam_white_scale = float(values['slam.white_scale'])
    loc.odom_drift_sigma = (float(values['odom.drift_sigma_rate']),
                            float(values['odom.drift_sigma_distance']))
    return config


def pipeline_config(values: Mapping[str, Any]) -> PipelineConfig:
    """Return the core's :class:`PipelineConfig` for the node's parameter values."""
    base = PipelineConfig()
    config = replace(base, map_frame=values['frames.map'], odom_frame=values['frames.odom'],
                     base_frame=values['frames.base'], camera_frame=values['camera_frame'],
                     slam_style=SLAM_INPUTS[values['slam.input']],
                     online_map=values['map.mode'] == 'online',
                     initial_pose=((values['initial_pose.x'], values['initial_pose.y'],
                                    values['initial_pose.yaw'])
                                   if values['initial_pose.set'] else None),
                     localizer=replace(base.localizer))
    return apply_values(config, values)


def covariance6(cov3: np.ndarray) -> np.ndarray:
    """Return the ROS 6x6 pose covariance (x, y, z, roll, pitch, yaw) of an (x, y, yaw) one."""
    out = np.zeros((6, 6))
    idx = [0, 1, 5]
    out[np.ix_(idx, idx)] = np.asarray(cov3, np.float64)
    return out


def fused_pose(stamp_ns: int, fused: FusedPose, map_frame: str, base_frame: str
               ) -> PoseStamped:
    """Return the fused pose of base in map as a core PoseStamped (for ``pose_to_msg``)."""
    x, y, yaw = (float(v) for v in fused.pose)
    return PoseStamped(stamp_ns=stamp_ns, frame_id=map_frame, position=np.array([x, y, 0.0]),
                       orientation=yaw_to_quat(yaw), covariance=covariance6(fused.covariance),
                       child_frame_id=base_frame)


def map_to_odom(stamp_ns: int, fused: FusedPose, map_frame: str, odom_frame: str
                ) -> Transform:
    """Return the fused map->odom correction as a core Transform (for ``transform_to_msg``)."""
    x, y, yaw = (float(v) for v in fused.map_to_odom)
    return Transform(stamp_ns=stamp_ns, parent_frame=map_frame, child_frame=odom_frame,
                     translation=np.array([x, y, 0.0]), rotation=yaw_to_quat(yaw))


def map_objects(objects: Sequence[MapObject]) -> List[Object3D]:
    """
    Return the objects located in the map (``objects_to_msg``), id = landmark id or ''.

    Objects seen before the first SLAM pose have no map position (NaN): they are left out.
    """
    out = []
    for mo in objects:
        position = np.asarray(mo.position_map, np.float64)
        if position.shape != (3,) or not np.all(np.isfinite(position)):
            continue
        obj = mo.object
        out.append(Object3D(class_name=obj.class_name, position=position,
                            size=np.asarray(obj.size, np.float64), score=float(obj.score),
                            id='' if mo.landmark_id is None else str(mo.landmark_id),
                            covariance=np.asarray(mo.covariance_map, np.float64)))
    return out


def base_objects(objects: Sequence[MapObject]) -> List[Object3D]:
    """
    Return the objects in the robot base frame at their image stamp (``objects_to_msg``).

    These exist from the first image on (no map pose needed) and carry the object estimate's
    own covariance: what a local planner or an obstacle layer wants.
    """
    out = []
    for mo in objects:
        obj = mo.object
        out.append(Object3D(class_name=obj.class_name,
                            position=np.asarray(obj.position, np.float64),
                            size=np.asarray(obj.size, np.float64), score=float(obj.score),
                            id='' if mo.landmark_id is None else str(mo.landmark_id),
                            covariance=np.asarray(obj.covariance, np.float64)))
    return out


def landmark_objects(landmarks: Sequence[Landmark]) -> List[Object3D]:
    """Return landmarks as :class:`Object3D` for ``objects_to_markers`` (label: class id)."""
    return [Object3D(class_name=lm.class_name, position=np.asarray(lm.position, np.float64),
                     size=np.asarray(lm.size, np.float64),
                     orientation=yaw_to_quat(float(lm.yaw)), id=str(lm.id))
            for lm in landmarks]


class DepthByStamp:
    """
    The newest few depth images, each waiting for the detections of the same image.

    The depth node and the detector both stamp their output with the image's stamp; the
    detections look their depth up by that stamp and never wait for it (a depth image that
    comes later, or was dropped by the depth node's newest-frame policy, is simply missing).
    Thread-safe: depth arrives in an executor callback, detections in the worker.
    """

    def __init__(self, keep: int = 8) -> None:
        """Keep at most ``keep`` images."""
        self.keep = keep
        self._images: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.found = 0
        self.missing = 0

    def put(self, stamp_ns: int, depth: np.ndarray) -> None:
        """Keep the depth image (metres) of the image stamped ``stamp_ns``."""
        with self._lock:
            self._images[stamp_ns] = depth
            self._images.move_to_end(stamp_ns)
            while len(self._images) > self.keep:
                self._images.popitem(last=False)

    def take(self, stamp_ns: int) -> Optional[np.ndarray]:
        """Return (and forget) the depth image of that stamp, or None."""
        with self._lock:
            depth = self._images.pop(stamp_ns, None)
            if depth is None:
                self.missing += 1
            else:
                self.found += 1
            return depth

    def clear(self) -> None:
        """Forget every image (time jump, cleanup)."""
        with self._lock:
            self._images.clear()


class FaultReporter:
    """
    Turn the core's cumulative fault counters into throttled warnings, one stream per kind.

    rclpy throttles per call site, which would let one fault kind hide all others, so the
    throttling is done here: :meth:`new_faults` returns ``(kind, added, total)`` for every kind
    whose counter grew, and :meth:`should_log` says whether that kind may be logged now
    (at most once per ``period_s`` of the steady clock).
    """

    def __init__(self, period_s: float = 5.0) -> None:
        """Start with no faults seen."""
        self.period_s = period_s
        self._seen: Dict[str, int] = {}
        self._logged: Dict[str, float] = {}

    def new_faults(self, faults: Mapping[str, int]) -> List[Tuple[str, int, int]]:
        """Return the kinds whose counters grew since the last call, with the increase."""
        out = []
        for kind, total in sorted(faults.items()):
            added = total - self._seen.get(kind, 0)
            if added > 0:
                out.append((kind, added, total))
            self._seen[kind] = total
        return out

    def should_log(self, kind: str, now: Optional[float] = None) -> bool:
        """Return whether a warning of ``kind`` may be logged now (and note that it was)."""
        now = time.monotonic() if now is None else now
        last = self._logged.get(kind)
        if last is not None and now - last < self.period_s:
            return False
        self._logged[kind] = now
        return True

    def reset(self) -> None:
        """Forget the counters (the core was recreated)."""
        self._seen.clear()


FAULT_TEXT = {
    'bad_tf': 'a non-finite transform was ignored',
    'bad_camera_info': 'an invalid camera_info was ignored',
    'empty_scan': 'a scan without any valid return was ignored',
    'bad_scan': 'a scan with an invalid angle_increment was ignored',
    'bad_odom': 'a non-finite odometry message was ignored',
    'odom_out_of_order': 'odometry arrived out of order',
    'reset': 'the fusion was reset (time jumped back)',
    'bad_slam': 'a non-finite SLAM pose was ignored',
    'stale': 'an input older than the odometry history was dropped',
    'no_odom': 'no odometry at the stamp of an input',
    'slam_out_of_order': 'a SLAM pose older than the previous one',
    'slam_rejected': 'a SLAM pose failed the Mahalanobis gate (slam.gate)',
    'relocalized': 'persistent SLAM disagreement: relocalised onto the SLAM pose',
    'initial_pose': 'an initial pose was given (initialpose): started again there',
    'initial_pose_frame': 'an initial pose not in frames.map was ignored',
    'bad_initial_pose': 'a non-finite initial pose was ignored',
    'initial_pose_early': 'an initial pose before any odometry was ignored',
    'initial_pose_stamp': 'an initial pose stamped ahead of the odometry (use_sim_time?) was '
                          'taken as now',
    'no_camera_info': 'detections before any camera_info were skipped',
    'missing_tf': 'a TF (camera or lidar mount) was missing at the stamp',
    'no_scan': 'no scan near the image stamp: camera-only object ranges',
}


def fault_message(kind: str, added: int, total: int) -> str:
    """Return the warning text of ``added`` new faults of ``kind`` (``total`` so far)."""
    text = FAULT_TEXT.get(kind, kind.replace('_', ' '))
    return f'fusion: {text} (+{added}, {total} in all) [{kind}]'
