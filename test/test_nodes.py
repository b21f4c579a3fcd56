"""
rclpy tests of the detector and depth lifecycle nodes (skipped where rclpy is absent).

Each test spins the node under test and a probe node on one executor with ``spin_once``:
lifecycle transitions, parameter validation, outputs stamped with the input stamp, rejected
inputs, label_info latching, the debug image, diagnostics and the backwards-time-jump reset.
"""

import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402, I100 (after the skip)
from geometry_msgs.msg import TransformStamped  # noqa: E402
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from ros2_infer import conversions as conv  # noqa: E402
from ros2_infer.core.sensors import CameraInfo  # noqa: E402
from ros2_infer.nodes.base import autostart, sensor_qos  # noqa: E402
from ros2_infer.nodes.depth_node import DepthNode  # noqa: E402
from ros2_infer.nodes.detector_node import DetectorNode  # noqa: E402
from sensor_msgs.msg import (  # noqa: E402
    CameraInfo as CameraInfoMsg, CompressedImage, Image, LaserScan)
from test_nodes_models import make_depth_model  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

STAMP_NS = 1_234_000_000_567


@pytest.fixture
def ros():
    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture(scope='module')
def depth_spec(tmp_path_factory):
    return make_depth_model(tmp_path_factory.mktemp('depth'))


@pytest.fixture
def detector_spec(generated_detector_dir):
    return str(generated_detector_dir / 'tinydet.yaml')


def state_of(node) -> str:
    return node._state_machine.current_state[1]


def spin_until(executor, predicate, timeout=30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return bool(predicate())


def image_msg(ns=STAMP_NS, frame='camera_rgb_optical_frame', width=640, height=480, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    return conv.array_to_image(pixels, 'rgb8', conv.make_header(None, ns, frame))


class Probe:
    """A plain node that publishes inputs and records outputs."""

    def __init__(self, namespace=''):
        self.node = rclpy.create_node('probe', namespace=namespace)
        self.received = {}

    def listen(self, msg_type, topic, qos=10):
        self.received[topic] = []
        self.node.create_subscription(msg_type, topic, self.received[topic].append, qos)

    def publisher(self, msg_type, topic, qos=None):
        return self.node.create_publisher(msg_type, topic, qos or sensor_qos())


def configured_detector(spec, **params):
    overrides = [Parameter('model.spec', value=spec),
                 Parameter('detector.conf_threshold', value=0.01)]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    return DetectorNode(parameter_overrides=overrides)


def test_empty_model_spec_fails_configure_and_stays_unconfigured(ros):
    node = DetectorNode()
    try:
        assert node.param('model.spec') == ''
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert state_of(node) == 'unconfigured'
        assert 'model.spec' in node._load_error and 'empty' in node._load_error
    finally:
        node.destroy_node()


def test_missing_spec_file_fails_configure(ros, tmp_path):
    node = DetectorNode(parameter_overrides=[
        Parameter('model.spec', value=str(tmp_path / 'nope.yaml'))])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert state_of(node) == 'unconfigured'
    finally:
        node.destroy_node()


def test_a_transition_that_raises_frees_what_it_made_and_the_node_can_start_again(
        ros, detector_spec):
    # An unknown reliability makes create_subscription raise inside on_activate.
    node = configured_detector(str(detector_spec), **{
        'qos_overrides./image.subscription.reliability': 'sometimes'})
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.ERROR
        assert state_of(node) == 'unconfigured'                   # on_error freed it all
        assert node.model is None and node.worker is None and node._diagnostics_pub is None
        assert not node._subscriptions_active
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.spec is not None and state_of(node) == 'inactive'     # configured again
    finally:
        node.destroy_node()


def test_depth_model_in_the_detector_is_refused(ros, depth_spec):
    node = DetectorNode(parameter_overrides=[Parameter('model.spec', value=str(depth_spec))])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    finally:
        node.destroy_node()


def test_parameters_are_validated_on_set(ros, detector_spec):
    node = configured_detector(detector_spec)
    try:
        def accepted(name, value):
            return node.set_parameters([Parameter(name, value=value)])[0].successful

        assert not accepted('detector.conf_threshold', 1.5)
        assert not accepted('detector.iou_threshold', -0.1)
        assert not accepted('detector.max_detections', 0)
        assert not accepted('detector.conf_threshold', 'high')
        assert not accepted('model.spec', '/elsewhere.yaml')  # read-only
        assert not accepted('model.device', 'cuda')            # read-only
        assert accepted('detector.conf_threshold', 0.6)
        assert node.param('detector.conf_threshold') == pytest.approx(0.6)
        descriptor = node.describe_parameter('detector.conf_threshold')
        assert descriptor.description and descriptor.floating_point_range[0].to_value == 1.0
        assert node.describe_parameter('model.spec').read_only
        # Applied to the running detector too.
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert accepted('detector.conf_threshold', 0.3)
        assert node.detector.conf_threshold == pytest.approx(0.3)
    finally:
        node.destroy_node()


def test_out_of_range_override_is_refused_at_construction(ros):
    from rclpy.exceptions import InvalidParameterValueException

    with pytest.raises(InvalidParameterValueException):
        DetectorNode(parameter_overrides=[Parameter('detector.conf_threshold', value=2.0)])


def test_detector_publishes_stamped_detections_label_info_and_diagnostics(ros, detector_spec):
    node = configured_detector(detector_spec)
    probe = Probe()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe.node)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert state_of(node) == 'inactive'
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert state_of(node) == 'active'
        probe.listen(Detection2DArray, 'detections')
        probe.listen(DiagnosticArray, '/diagnostics')
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        has_label_info = node.vision.label_info is not None
        if has_label_info:
            probe.listen(node.vision.label_info, 'label_info', latched)
        images = probe.publisher(Image, 'image')
        assert spin_until(executor, lambda: images.get_subscription_count() > 0, 10)

        # A malformed image is rejected with a warning; the node keeps running.
        bad = image_msg()
        bad.step = 5
        images.publish(bad)
        assert spin_until(executor, lambda: node.stats.rejected.get('image', 0) == 1, 10)

        images.publish(image_msg())
        assert spin_until(executor, lambda: probe.received['detections'], 30)
        out = probe.received['detections'][0]
        assert (out.header.stamp.sec, out.header.stamp.nanosec) == (1234, 567)
        assert out.header.frame_id == 'camera_rgb_optical_frame'
        names = set(node.spec.class_names)
        for detection in out.detections:
            assert detection.results[0].hypothesis.class_id in names
            assert detection.bbox.size_x >= 0 and detection.header.stamp == out.header.stamp
        if has_label_info:
            assert spin_until(executor, lambda: probe.received['label_info'], 10)
            label_info = probe.received['label_info'][0]
            assert [c.class_name for c in label_info.class_map] == list(node.spec.class_names)

        def detector_status():
            for array in probe.received['/diagnostics']:
                for status in array.status:
                    if status.name == 'ros2_infer: detector' and any(
                            kv.key == 'outputs' and kv.value != '0' for kv in status.values):
                        return {kv.key: kv.value for kv in status.values}
            return None

        assert spin_until(executor, lambda: detector_status() is not None, 10)
        status = detector_status()
        for key in ('latency_p50_ms', 'latency_p95_ms', 'input_rate_hz', 'output_rate_hz',
                    'dropped_frames', 'backend', 'active_device', 'fallback'):
            assert key in status
        assert float(status['latency_p50_ms']) > 0 and status['rejected.image'] == '1'

        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node.model is None and node.worker is None
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert state_of(node) == 'unconfigured'
    finally:
        executor.shutdown()
        probe.node.destroy_node()
        node.destroy_node()


def test_debug_image_only_when_subscribed_and_compressed_input(ros, detector_spec):
    node = configured_detector(detector_spec, **{'input.compressed': True})
    probe = Probe()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe.node)
    try:
        assert autostart(node) is False  # autostart is off by default
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        probe.listen(Detection2DArray, 'detections')
        images = probe.publisher(CompressedImage, 'image/compressed')
        assert spin_until(executor, lambda: images.get_subscription_count() > 0, 10)
        pixels = np.random.default_rng(2).integers(0, 255, (240, 320, 3), dtype=np.uint8)
        images.publish(conv.array_to_compressed(pixels, 'rgb', conv.make_header(None, 77, 'c')))
        assert spin_until(executor, lambda: probe.received['detections'], 30)
        assert node._debug_pub.get_subscription_count() == 0
        probe.listen(Image, '/detector/debug_image')
        assert spin_until(executor, lambda: node._debug_pub.get_subscription_count() > 0, 10)
        images.publish(conv.array_to_compressed(pixels, 'rgb', conv.make_header(None, 78, 'c')))
        assert spin_until(executor, lambda: probe.received['/detector/debug_image'], 30)
        debug = probe.received['/detector/debug_image'][0]
        assert debug.encoding == 'bgr8' and (debug.width, debug.height) == (320, 240)
        assert debug.header.stamp.nanosec == 78
    finally:
        executor.shutdown()
        probe.node.destroy_node()
        node.destroy_node()


def camera_info_msg(ns):
    camera = CameraInfo(640, 480, np.array([[530.5, 0, 320.5], [0, 530.5, 240.5], [0, 0, 1]]),
                        np.zeros(5))
    return conv.camera_info_to_msg(camera, conv.make_header(None, ns, 'camera_rgb_optical_frame'))


def wall_scan_msg(ns, distance=2.0):
    angles = np.arange(360) * (2 * np.pi / 360)
    with np.errstate(divide='ignore'):
        ranges = np.where(np.cos(angles) > 0.3, distance / np.cos(angles), np.inf)
    ranges = np.where(ranges <= 3.5, ranges, np.inf).astype(np.float32)
    msg = LaserScan()
    msg.header = conv.make_header(None, ns, 'base_scan')
    msg.angle_min, msg.angle_increment = 0.0, float(2 * np.pi / 360)
    msg.angle_max = float(msg.angle_increment * 359)
    msg.time_increment, msg.scan_time = 0.2 / 360, 0.2
    msg.range_min, msg.range_max = 0.12, 3.5
    msg.ranges = ranges.tolist()
    return msg


def static_scan_to_camera(node):
    """Latch base_scan -> camera_rgb_optical_frame (Waffle Pi-like numbers)."""
    from tf2_ros import StaticTransformBroadcaster

    broadcaster = StaticTransformBroadcaster(node)
    t = TransformStamped()
    t.header.frame_id = 'camera_rgb_optical_frame'
    t.child_frame_id = 'base_scan'
    # scan x -> optical z, scan y -> -optical x, scan z -> -optical y
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (
        0.0, 0.05, -0.13)
    t.transform.rotation.x, t.transform.rotation.y = 0.5, -0.5
    t.transform.rotation.z, t.transform.rotation.w = 0.5, 0.5
    broadcaster.sendTransform(t)
    return broadcaster


def test_depth_node_fits_lidar_and_stamps_output(ros, depth_spec):
    node = DepthNode(parameter_overrides=[
        Parameter('model.spec', value=str(depth_spec)),
        Parameter('depth.fixed_frame', value=''), Parameter('depth.min_samples', value=8)])
    probe = Probe()
    executor = MultiThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe.node)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        broadcaster = static_scan_to_camera(probe.node)  # noqa: F841 (kept alive)
        probe.listen(Image, 'depth')
        probe.listen(Image, '/depth/confidence')
        images = probe.publisher(Image, 'image')
        infos = probe.publisher(CameraInfoMsg, 'camera_info')
        scans = probe.publisher(LaserScan, 'scan')
        assert spin_until(executor, lambda: scans.get_subscription_count() > 0, 10)
        # A flat grey image: the relative map is constant, so the fit is scale only and the
        # whole image gets the wall's optical depth.
        flat = np.full((480, 640, 3), 128, np.uint8)
        for i in range(100):
            ns = STAMP_NS + i * 100_000_000
            infos.publish(camera_info_msg(ns))
            scans.publish(wall_scan_msg(ns))
            executor.spin_once(timeout_sec=0.02)
            images.publish(conv.array_to_image(flat, 'rgb8', conv.make_header(
                None, ns, 'camera_rgb_optical_frame')))
            if spin_until(executor, lambda: probe.received['depth'], 0.3):
                break
        assert probe.received['depth'], f'no depth; rejected {node.stats.rejected}'
        out = probe.received['depth'][0]
        assert out.encoding == '32FC1' and out.header.frame_id == 'camera_rgb_optical_frame'
        assert (out.header.stamp.sec * 10 ** 9 + out.header.stamp.nanosec - STAMP_NS) % (
            100_000_000) == 0
        depth = conv.image_to_array(out)
        assert depth.shape == (480, 640)
        assert np.nanmedian(depth) == pytest.approx(2.0 - 0.13, rel=0.05)
    finally:
        executor.shutdown()
        probe.node.destroy_node()
        node.destroy_node()


def test_depth_node_rejects_bad_inputs(ros, depth_spec):
    node = DepthNode(parameter_overrides=[Parameter('model.spec', value=str(depth_spec))])
    probe = Probe()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe.node)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        images = probe.publisher(Image, 'image')
        scans = probe.publisher(LaserScan, 'scan')
        infos = probe.publisher(CameraInfoMsg, 'camera_info')
        assert spin_until(executor, lambda: infos.get_subscription_count() > 0, 10)
        bad_scan = wall_scan_msg(STAMP_NS)
        bad_scan.range_max = float('nan')
        scans.publish(bad_scan)
        bad_info = camera_info_msg(STAMP_NS)
        bad_info.k = np.zeros(9)
        infos.publish(bad_info)
        images.publish(image_msg())  # no camera_info yet
        assert spin_until(executor, lambda: {'scan', 'camera_info', 'image'} <= set(
            node.stats.rejected), 15)
    finally:
        executor.shutdown()
        probe.node.destroy_node()
        node.destroy_node()


def test_backwards_time_jump_clears_tf_and_caches(ros, depth_spec):
    from builtin_interfaces.msg import Time
    from rosgraph_msgs.msg import Clock

    node = DepthNode(parameter_overrides=[Parameter('model.spec', value=str(depth_spec)),
                                          Parameter('use_sim_time', value=True)])
    probe = Probe()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe.node)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        clock = probe.node.create_publisher(Clock, '/clock', 10)
        assert spin_until(executor, lambda: clock.get_subscription_count() > 0, 10)
        clock.publish(Clock(clock=Time(sec=100)))
        assert spin_until(executor, lambda: node.get_clock().now().nanoseconds >= 100e9, 10)
        node._scans.append(conv.scan_from_msg(wall_scan_msg(100 * 10 ** 9)))
        clock.publish(Clock(clock=Time(sec=10)))
        assert spin_until(executor, lambda: len(node._scans) == 0, 10)
    finally:
        executor.shutdown()
        probe.node.destroy_node()
        node.destroy_node()


def test_both_nodes_in_one_process_autostart(ros, detector_spec, depth_spec):
    detector = configured_detector(detector_spec, autostart=True)
    depth = DepthNode(parameter_overrides=[Parameter('model.spec', value=str(depth_spec)),
                                           Parameter('autostart', value=True)])
    executor = MultiThreadedExecutor()
    try:
        for node in (detector, depth):
            executor.add_node(node)
            assert autostart(node) is True
            assert state_of(node) == 'active'
        executor.spin_once(timeout_sec=0.1)
    finally:
        executor.shutdown()
        for node in (detector, depth):
            worker = node.worker
            node.destroy_node()
            assert worker is None or not worker._thread
