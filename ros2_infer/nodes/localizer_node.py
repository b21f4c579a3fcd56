"""
Lifecycle node ``localizer``: detections + camera_info + scan + odom + SLAM -> map outputs.

A thin driver of the core :class:`~ros2_infer.core.pipeline.FusionPipeline`, fed exactly as
``ros2_infer.replay.runner`` feeds it from a bag: every message converted by
``ros2_infer.conversions`` and handed to ``on_odom`` / ``on_scan`` / ``on_camera_info`` /
``on_detections`` / ``on_slam_pose`` / ``on_tf`` in arrival order; the core queues each
measurement until odometry covers its stamp. Publishes ``objects`` (Detection3DArray in the
map frame, stamped with the image stamp), ``objects_base`` (the same in the base frame, from the
first image on), ``landmarks`` (MarkerArray), ``pose``
(PoseWithCovarianceStamped at the odometry stamps, causal) and ``map_to_odom`` (the fused
correction as a TransformStamped at the same stamps), and broadcasts map->odom on /tf only with
``publish_map_to_odom``. The ``~/save_map`` service (std_srvs/Trigger) writes the landmark
map to ``map.save_file`` while the node runs. ``initialpose`` (RViz's 2D Pose Estimate,
PoseWithCovarianceStamped in frames.map) starts the estimate again there, as AMCL does. With
``objects.use_depth`` the depth node's ``depth`` image of the same stamp goes with each
image's detections (objects the scan misses); it is looked up, never waited for.

Why a lifecycle node, but not :class:`~ros2_infer.nodes.base.InferenceNode`: the launch file
drives all perception nodes through configure -> activate alike, and configure/cleanup are
the natural places to load the known landmark map and save the built one; but the base class
is about loading a model (``model.*`` parameters, a model spec), which the localizer has none
of, so it shares the base module's QoS, descriptor, stats and worker helpers instead.

Threads: odometry, scans, camera_info and SLAM poses are cheap and run in the executor
callbacks; detections (association + a factor-graph update) go through the newest-frame
worker. One lock serialises every call into the core, which is not thread-safe.

TF: the camera and lidar mounts come from a tf2_ros Buffer fed by a TransformListener
(/tf_static), looked up at the message stamp with zero timeout and handed to the core as
stamp-independent edges; a missing one is a throttled warning. With ``slam.input: tf`` the
map->odom edges of /tf are the SLAM input. On a backwards time jump the tf2 buffer is cleared
and the core reset (Humble's buffer does not clear itself).
"""

import logging
import threading
import time
from typing import Any, Dict, List, Mapping, Optional

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import (
    PoseStamped as PoseStampedMsg, PoseWithCovarianceStamped, TransformStamped)
from nav_msgs.msg import Odometry
from rclpy.clock import JumpThreshold
from rclpy.duration import Duration
from rclpy.lifecycle import Node, State, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.time import Time
from ros2_infer.conversions import (
    camera_info_from_msg, depth_to_metres, detections_from_msg, make_header, MessageError,
    objects_to_markers, objects_to_msg, pose_from_odometry, pose_from_pose_stamped,
    pose_from_pose_with_covariance_stamped, pose_to_msg, scan_from_msg, stamp_ns,
    transform_from_msg, transform_to_msg, transforms_from_tf, VisionTypes)
from ros2_infer.core.errors import InputError
from ros2_infer.core.landmark_map import read_landmark_map, save_landmark_map
from ros2_infer.core.pipeline import FusedPose, FusionPipeline, Output
from ros2_infer.nodes.base import (
    latched_qos, output_qos, ParameterizedNode, run_nodes, sensor_qos, THROTTLE_S)
from ros2_infer.nodes.localizer_support import (
    apply_values, base_objects, check_combination, DepthByStamp, fault_message, FaultReporter,
    fused_pose,
    landmark_objects, LIVE_PARAMS, LOCALIZER_PARAMS, map_objects, map_to_odom,
    pipeline_config, SLAM_INPUTS)
from ros2_infer.nodes.stats import diagnostic_array, NodeStats
from ros2_infer.nodes.worker import FrameWorker
from sensor_msgs.msg import CameraInfo as CameraInfoMsg, Image, LaserScan as LaserScanMsg
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage
import tf2_ros
from vision_msgs.msg import Detection2DArray, Detection3DArray
from visualization_msgs.msg import MarkerArray


def tf_qos() -> QoSProfile:
    """Return tf2_ros' /tf subscription profile (keep last 100, volatile, reliable)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                      durability=DurabilityPolicy.VOLATILE)


class LocalizerNode(ParameterizedNode, Node):
    """Drives the fusion core from ROS topics (see the module docstring)."""

    PARAMS = LOCALIZER_PARAMS

    def __init__(self, node_name: str = 'localizer', **kwargs: Any) -> None:
        """Declare the parameters; nothing else happens before configure/activate."""
        self.stats = NodeStats()
        self.faults = FaultReporter(THROTTLE_S)
        self.pipeline: Optional[FusionPipeline] = None
        self.worker: Optional[FrameWorker] = None
        self.vision: Optional[VisionTypes] = None
        self._core_lock = threading.RLock()
        self._load_error = ''
        self._diagnostics_pub = None
        self._save_service = None
        self._inputs: List[Any] = []
        self._outputs: Dict[str, Any] = {}
        self._own_timers: List[Any] = []
        self._landmarks_timer = None
        self._tf_buffer: Optional[tf2_ros.Buffer] = None
        self._tf_listener = None
        self._broadcaster: Optional[tf2_ros.TransformBroadcaster] = None
        self._jump_handle = None
        self._camera_frame = ''
        self._mounts: Dict[str, Any] = {}
        self._last_odom_ns: Optional[int] = None
        self._odom_arrived: Dict[int, float] = {}
        self._depths = DepthByStamp()
        self._map_saved = True
        super().__init__(node_name, **kwargs)
        self.declare_params(self.PARAMS)

    # ---- parameters ------------------------------------------------------------------------
    def check_combination(self, values: Mapping[str, Any]) -> Optional[str]:
        """Return why the values do not go together (e.g. a known map mode with no file)."""
        return check_combination(values)

    def on_parameters_changed(self, changes: Dict[str, Any]) -> None:
        """Hand live-tunable values (gates, noise) to the running core."""
        if any(name in LIVE_PARAMS for name in changes):
            with self._core_lock:
                if self.pipeline is not None:
                    apply_values(self.pipeline.config, self._values)

    # ---- lifecycle -------------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Check parameters, load the known map, create the core, publishers and TF."""
        problem = self.check_all_parameters()
        known = known_offset = None
        if problem is None and self.param('map.mode') == 'known':
            try:
                known_file = read_landmark_map(self.param('map.known_file'))
            except InputError as exc:
                problem = f'map.known_file: {exc}'
            else:
                frame, known = known_file.frame_id, known_file.landmarks
                known_offset = known_file.offset_covariance
                if frame != self.param('frames.map'):
                    self.get_logger().warning(
                        f'landmark map frame {frame!r} is not frames.map '
                        f"{self.param('frames.map')!r}: its positions are used as map ones")
        if problem is not None:
            self._load_error = problem
            self.get_logger().error(f'cannot configure: {problem}')
            return TransitionCallbackReturn.FAILURE
        self._load_error = ''
        # The node reports the core's faults on its ROS logger (throttled per kind); the core's
        # own Python log lines would repeat them, unformatted, on stderr.
        logging.getLogger('ros2_infer.fusion').setLevel(logging.ERROR)
        with self._core_lock:
            self.pipeline = FusionPipeline(pipeline_config(self._values), known_map=known,
                                           known_map_sigma=self.param('map.known_sigma'),
                                           known_map_offset_covariance=known_offset)
            self.faults.reset()
        self._map_saved = False
        self.vision = VisionTypes()
        self._outputs = {
            'objects': self.create_lifecycle_publisher(Detection3DArray, 'objects',
                                                       output_qos()),
            'objects_base': self.create_lifecycle_publisher(Detection3DArray, 'objects_base',
                                                            output_qos()),
            'landmarks': self.create_lifecycle_publisher(MarkerArray, 'landmarks',
                                                         latched_qos()),
            'pose': self.create_lifecycle_publisher(PoseWithCovarianceStamped, 'pose',
                                                    output_qos()),
            'map_to_odom': self.create_lifecycle_publisher(TransformStamped, 'map_to_odom',
                                                           output_qos()),
        }
        self._save_service = self.create_service(Trigger, '~/save_map', self._on_save_map)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._own_timers.append(self.create_timer(self.param('diagnostics.period'),
                                                  self.publish_diagnostics))
        self._tf_buffer = tf2_ros.Buffer()
        self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)
        if self.param('publish_map_to_odom'):
            self._broadcaster = tf2_ros.TransformBroadcaster(self)
        self._jump_handle = self.get_clock().create_jump_callback(
            JumpThreshold(min_forward=None, min_backward=Duration(seconds=-1),
                          on_clock_change=True),
            post_callback=self._on_time_jump)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Start the detections worker, subscribe, start the landmarks timer."""
        result = super().on_activate(state)
        self.worker = FrameWorker(self._process_detections, name='localizer_fusion',
                                  on_error=self._on_worker_error)
        self.worker.start()
        self._subscribe(Odometry, 'odom', self._on_odom, sensor_qos())
        self._subscribe(LaserScanMsg, 'scan', self._on_scan, sensor_qos())
        self._subscribe(CameraInfoMsg, 'camera_info', self._on_camera_info, sensor_qos())
        self._subscribe(Detection2DArray, 'detections', self._on_detections, sensor_qos())
        if self.param('objects.use_depth'):
            self._subscribe(Image, 'depth', self._on_depth, sensor_qos())
        slam = self.param('slam.input')
        if slam == 'amcl_pose':
            # AMCL publishes amcl_pose reliable + transient local: a late subscriber still
            # gets the last pose.
            self._subscribe(PoseWithCovarianceStamped, 'amcl_pose', self._on_slam_pose,
                            latched_qos())
        elif slam == 'pose':
            msg_type = (PoseStampedMsg if self.param('slam.pose_type') == 'PoseStamped'
                        else PoseWithCovarianceStamped)
            # Not 'pose': that is this node's output (the launch file remaps slam_pose).
            self._subscribe(msg_type, 'slam_pose', self._on_slam_pose, output_qos())
            heard = getattr(self._inputs[-1], 'topic_name', None)
            if heard is not None and heard == getattr(self._outputs['pose'], 'topic_name', ''):
                self.get_logger().error(
                    f"slam_pose and the output 'pose' are both {heard}: the node would fuse "
                    'its own output; remap one of them (perception.launch.py slam_input:=pose '
                    'moves the output to localizer/pose)')
                self._stop_inputs()
                # A failed activation goes back to inactive without on_deactivate: the
                # publishers super().on_activate enabled are disabled here.
                super().on_deactivate(state)
                return TransitionCallbackReturn.FAILURE
        elif slam == 'tf':
            self._subscribe(TFMessage, '/tf', self._on_tf, tf_qos(), overridable=False)
        # RViz's 2D Pose Estimate, as AMCL takes it (system-default QoS: reliable, volatile).
        self._subscribe(PoseWithCovarianceStamped, 'initialpose', self._on_initial_pose,
                        QoSProfile(depth=10))
        self._landmarks_timer = self.create_timer(self.param('landmarks.period'),
                                                  self.publish_landmarks)
        return result

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Stop taking inputs (the map and the pose estimate are kept)."""
        self._stop_inputs()
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        """Save the map (map.save_file) and free everything configure made."""
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        """Save the map and free everything."""
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: State) -> TransitionCallbackReturn:
        """Free what a transition that raised had made; the node goes back to unconfigured."""
        self.get_logger().error(f'a transition from {state.label} raised: everything it made '
                                'is freed; configure again')
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def _subscribe(self, msg_type: Any, topic: str, callback: Any, qos: QoSProfile,
                   overridable: bool = True) -> None:
        options = QoSOverridingOptions.with_default_policies() if overridable else None
        self._inputs.append(self.create_subscription(msg_type, topic, callback, qos,
                                                     qos_overriding_options=options))

    def _stop_inputs(self) -> None:
        for sub in self._inputs:
            self.destroy_subscription(sub)
        self._inputs = []
        if self._landmarks_timer is not None:
            self.destroy_timer(self._landmarks_timer)
            self._landmarks_timer = None
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def save_map(self) -> bool:
        """Write the landmark map to ``map.save_file`` (once per configure); log failures."""
        with self._core_lock:
            if self._map_saved:
                return False
            self._map_saved = True
        return self.write_map()[0]

    def write_map(self) -> tuple:
        """Write the landmark map to ``map.save_file`` now; return ``(saved, message)``."""
        path = self.param('map.save_file')
        with self._core_lock:
            if self.pipeline is None:
                return False, 'not configured: there is no map'
            if not path:
                return False, 'map.save_file is empty: set it to where the map should go'
            try:
                landmarks, offset = self.pipeline.export_map()
            except (RuntimeError, ValueError, IndexError) as exc:   # gtsam marginals
                message = f'cannot export the landmark map: {exc}'
                self.get_logger().error(message)
                return False, message
        try:
            save_landmark_map(path, landmarks, self.param('frames.map'), offset)
        except (InputError, OSError) as exc:
            message = f'cannot save the landmark map to {path}: {exc}'
            self.get_logger().error(message)
            return False, message
        message = f'saved {len(landmarks)} landmarks to {path}'
        self.get_logger().info(message)
        return True, message

    def _on_save_map(self, request: Any, response: Any) -> Any:
        """``~/save_map``: write the map as it stands; cleanup/shutdown still save the last."""
        response.success, response.message = self.write_map()
        return response

    def release(self) -> None:
        """Stop inputs, save the map, destroy publishers, timers, TF and the core."""
        self._stop_inputs()
        self.save_map()
        for timer in self._own_timers:
            self.destroy_timer(timer)
        self._own_timers = []
        for pub in self._outputs.values():
            self.destroy_lifecycle_publisher(pub)
        self._outputs = {}
        if self._diagnostics_pub is not None:
            self.destroy_publisher(self._diagnostics_pub)
        self._diagnostics_pub = None
        if self._save_service is not None:
            self.destroy_service(self._save_service)
        self._save_service = None
        if self._broadcaster is not None:
            self.destroy_publisher(self._broadcaster.pub_tf)
            self._broadcaster = None
        if self._tf_listener is not None and hasattr(self._tf_listener, 'unregister'):
            self._tf_listener.unregister()
        if self._jump_handle is not None and hasattr(self._jump_handle, 'unregister'):
            self._jump_handle.unregister()
        self._tf_listener = self._tf_buffer = self._jump_handle = None
        with self._core_lock:
            self.pipeline = None
            self._mounts.clear()

    def destroy_node(self) -> None:
        """Stop the worker and save the map before the node's entities go away."""
        self._stop_inputs()
        self.save_map()
        super().destroy_node()

    def _on_time_jump(self, _jump: Any) -> None:
        if self._tf_buffer is not None:
            self._tf_buffer.clear()
        with self._core_lock:
            self._last_odom_ns = None
            self._odom_arrived.clear()
            self._depths.clear()
            if self.pipeline is not None:
                self.pipeline.reset('the clock jumped back')
                self._surface_faults()

    # ---- helpers ---------------------------------------------------------------------------
    def _warn(self, kind: str, text: str) -> None:
        """Count a rejected input and log it, throttled per kind (not per call site)."""
        self.stats.reject(kind)
        if self.faults.should_log(f'input.{kind}'):
            self.get_logger().warning(text)

    def _on_worker_error(self, exc: BaseException) -> None:
        self.stats.errors += 1
        if self.faults.should_log('worker'):
            self.get_logger().error(f'fusion failed: {type(exc).__name__}: {exc}')

    def _surface_faults(self) -> None:
        """Log the core's new faults (caller holds the lock)."""
        if self.pipeline is None:
            return
        for kind, added, total in self.faults.new_faults(self.pipeline.faults):
            if self.faults.should_log(f'fault.{kind}'):
                self.get_logger().warning(fault_message(kind, added, total))

    def _time(self, ns: int) -> Time:
        return Time(nanoseconds=ns, clock_type=self.get_clock().clock_type)

    def _mount(self, child: str, ns: int) -> bool:
        """
        Hand ``base <- child`` at ``ns`` to the core; False (and a warning) when tf2 lacks it.

        Zero timeout: a transform that is not there yet is never waited for.
        """
        base = self.param('frames.base')
        if not child or child == base or self._tf_buffer is None:
            return True
        try:
            msg = self._tf_buffer.lookup_transform(base, child, self._time(ns),
                                                   timeout=Duration())
            transform = transform_from_msg(msg)
        except (tf2_ros.TransformException, MessageError) as exc:
            if child in self._mounts:
                return True     # the core keeps the last mount it was given
            self._warn('tf', f'no transform {base} <- {child} at the message stamp: {exc}')
            return False
        # Mounts are fixed on a TurtleBot3, and the core looks them up at this same stamp.
        self.pipeline.on_tf([transform], static=True)
        self._mounts[child] = transform
        return True

    def _handle(self, outputs: List[Output]) -> None:
        """Publish the core's outputs (caller holds the lock)."""
        self._surface_faults()
        for out in outputs:
            if out.kind == 'pose':
                self._publish_pose(out.stamp_ns, out.data)
            elif out.kind == 'objects':
                header = make_header(None, out.stamp_ns, self.param('frames.map'))
                pub = self._outputs.get('objects')
                if pub is not None:
                    pub.publish(objects_to_msg(map_objects(out.data), header, self.vision))
                pub = self._outputs.get('objects_base')
                if pub is not None:
                    header = make_header(None, out.stamp_ns, self.param('frames.base'))
                    pub.publish(objects_to_msg(base_objects(out.data), header, self.vision))

    def _publish_pose(self, ns: int, fused: FusedPose) -> None:
        pub = self._outputs.get('pose')
        if pub is None:
            return
        pub.publish(pose_to_msg(fused_pose(ns, fused, self.param('frames.map'),
                                           self.param('frames.base'))))
        arrived = self._odom_arrived.pop(ns, None)
        if arrived is not None:
            self.stats.published(arrived)
        correction = transform_to_msg(map_to_odom(ns, fused, self.param('frames.map'),
                                                  self.param('frames.odom')))
        pub = self._outputs.get('map_to_odom')
        if pub is not None:
            pub.publish(correction)
        if self._broadcaster is not None:
            self._broadcaster.sendTransform(correction)

    # ---- executor thread: cheap core updates -----------------------------------------------
    def _on_odom(self, msg: Any) -> None:
        self.stats.received()
        try:
            odom = pose_from_odometry(msg)
        except MessageError as exc:
            self._warn('odom', f'rejected an odometry message: {exc}')
            return
        arrived = time.monotonic()
        with self._core_lock:
            if self.pipeline is None:
                return
            self._odom_arrived = {odom.stamp_ns: arrived}
            self._last_odom_ns = odom.stamp_ns
            self._handle(self.pipeline.on_odom(odom))

    def _on_scan(self, msg: Any) -> None:
        self.stats.received()
        try:
            scan = scan_from_msg(msg)
        except MessageError as exc:
            self._warn('scan', f'rejected a scan: {exc}')
            return
        with self._core_lock:
            if self.pipeline is None or not self._mount(scan.frame_id, scan.stamp_ns):
                return
            self._handle(self.pipeline.on_scan(scan))

    def _on_camera_info(self, msg: Any) -> None:
        try:
            camera = camera_info_from_msg(msg)
        except MessageError as exc:
            self._warn('camera_info', f'rejected a camera_info: {exc}')
            return
        with self._core_lock:
            if self.pipeline is None:
                return
            self._camera_frame = camera.frame_id
            self._handle(self.pipeline.on_camera_info(camera))

    def _on_slam_pose(self, msg: Any) -> None:
        self.stats.received()
        try:
            if isinstance(msg, PoseStampedMsg):
                pose = pose_from_pose_stamped(msg)
                pose.covariance = pose.covariance * 0.0  # unknown: the core's default
            else:
                pose = pose_from_pose_with_covariance_stamped(msg)
        except MessageError as exc:
            self._warn('slam', f'rejected a SLAM pose: {exc}')
            return
        if pose.frame_id.lstrip('/') != self.param('frames.map'):
            self._warn('slam_frame', f'rejected a SLAM pose in frame {pose.frame_id!r}: '
                                     f"expected frames.map {self.param('frames.map')!r}")
            return
        with self._core_lock:
            if self.pipeline is None:
                return
            self._handle(self.pipeline.on_slam_pose(
                pose, SLAM_INPUTS[self.param('slam.input')]))

    def _on_initial_pose(self, msg: Any) -> None:
        """Start again at the pose given on ``initialpose`` (the core checks frame and stamp)."""
        try:
            pose = pose_from_pose_with_covariance_stamped(msg)
        except MessageError as exc:
            self._warn('initialpose', f'rejected an initial pose: {exc}')
            return
        with self._core_lock:
            if self.pipeline is None:
                return
            self._handle(self.pipeline.on_initial_pose(pose))

    def _on_tf(self, msg: Any) -> None:
        """Take the map->odom edges of /tf as the SLAM input (slam.input 'tf')."""
        parent, child = self.param('frames.map'), self.param('frames.odom')
        try:
            edges = [t for t in transforms_from_tf(msg)
                     if t.parent_frame.lstrip('/') == parent
                     and t.child_frame.lstrip('/') == child]
        except MessageError as exc:
            self._warn('tf', f'rejected a /tf message: {exc}')
            return
        if not edges:
            return
        self.stats.received()
        with self._core_lock:
            if self.pipeline is None:
                return
            self._handle(self.pipeline.on_tf(edges, static=False))

    def _on_detections(self, msg: Any) -> None:
        self.stats.received()
        if self.worker is not None:
            self.worker.submit(msg)

    def _on_depth(self, msg: Any) -> None:
        try:
            depth = depth_to_metres(msg)
            stamp = stamp_ns(msg.header)
        except MessageError as exc:
            self._warn('depth', f'rejected a depth image: {exc}')
            return
        self._depths.put(stamp, depth)

    # ---- worker thread: association and the factor-graph update ----------------------------
    def _process_detections(self, msg: Any, arrived: float) -> None:
        try:
            detections = detections_from_msg(msg)
            stamp = stamp_ns(msg.header)
        except MessageError as exc:
            self._warn('detections', f'rejected a detections message: {exc}')
            return
        with self._core_lock:
            if self.pipeline is None:
                return
            camera = self.param('camera_frame') or self._camera_frame
            if camera:
                self._mount(camera, stamp)  # missing: warned here, faulted by the core
            depth = self._depths.take(stamp) if self.param('objects.use_depth') else None
            outputs = self.pipeline.on_detections(stamp, detections, depth)
            self._handle(outputs)
        if any(out.kind == 'objects' for out in outputs):
            self.stats.published(arrived)

    # ---- timers ----------------------------------------------------------------------------
    def publish_landmarks(self) -> None:
        """Publish the confirmed (or known) landmarks as a MarkerArray in the map frame."""
        pub = self._outputs.get('landmarks')
        with self._core_lock:
            if pub is None or self.pipeline is None:
                return
            landmarks = self.pipeline.landmarks()
            stamp = self._last_odom_ns
        if stamp is None:
            stamp = self.get_clock().now().nanoseconds
        header = make_header(None, stamp, self.param('frames.map'))
        pub.publish(objects_to_markers(landmark_objects(landmarks), header))

    def diagnostics_extra(self) -> Dict[str, Any]:
        """Return the core's state and fault counters as diagnostic values."""
        with self._core_lock:
            pipeline = self.pipeline
            if pipeline is None:
                return {'slam_input': self.param('slam.input'), 'localized': 'False',
                        'load_error': self._load_error}
            stats = pipeline.stats()
            extra: Dict[str, Any] = {
                'slam_input': self.param('slam.input'),
                'localized': str(pipeline.localizer.initialized),
                'map_mode': self.param('map.mode'),
                'landmarks': len(pipeline.landmarks()),
                'pending': stats['pending'],
                'load_error': self._load_error,
            }
        extra.update({f'localizer.{k}': v for k, v in sorted(stats['localizer'].items())})
        extra.update({f'map.{k}': v for k, v in sorted(stats['map'].items())})
        extra['faults'] = sum(stats['faults'].values())
        extra.update({f'fault.{k}': v for k, v in sorted(stats['faults'].items())})
        return extra

    def publish_diagnostics(self) -> None:
        """Publish one DiagnosticStatus for this node on /diagnostics."""
        pub = self._diagnostics_pub
        if pub is None:
            return
        extra = self.diagnostics_extra()
        dropped = self.worker.dropped if self.worker is not None else 0
        values = self.stats.key_values(dropped, extra)
        if self._load_error:
            level, message = 'ERROR', self._load_error
        elif not self._inputs:
            level, message = 'OK', 'inactive'
        elif extra.get('localized') != 'True' and extra['slam_input'] == 'none':
            level, message = 'WARN', 'waiting for an initial pose (initialpose; slam.input none)'
        elif extra.get('localized') != 'True':
            level, message = 'WARN', f"waiting for the first SLAM pose ({extra['slam_input']})"
        elif self.stats.rejected or extra.get('faults'):
            level, message = 'WARN', 'localized; some inputs were rejected (see fault.*)'
        else:
            level, message = 'OK', 'localized'
        pub.publish(diagnostic_array(
            None, self.get_clock().now().nanoseconds, f'ros2_infer: {self.get_name()}', level,
            message, values, hardware_id=self.get_fully_qualified_name()))


def main(args: Optional[list] = None) -> None:
    """Run the localizer node (``ros2 run ros2_infer localizer_node``)."""
    run_nodes([LocalizerNode], args=args)


if __name__ == '__main__':
    main()
