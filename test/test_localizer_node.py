"""
rclpy tests of the ``localizer`` lifecycle node (skipped where rclpy is absent).

The node under test and a probe node spin on one executor with ``spin_once``: parameter
validation and refused combinations, the fused pose after odometry + a SLAM pose (AMCL, and
map->odom on /tf) stamped with the odometry stamp, objects stamped with the image stamp,
rejected inputs, the map->odom correction topic and broadcast switch, landmarks from a known
map, map saving (on cleanup and by the ``~/save_map`` service), an initial pose on ``initialpose``,
diagnostics and the backwards-time-jump reset.
"""

import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
pytest.importorskip('gtsam')

from diagnostic_msgs.msg import (  # noqa: E402, I100 (after the skip)
    DiagnosticArray, DiagnosticStatus)
from geometry_msgs.msg import (  # noqa: E402
    PoseStamped, PoseWithCovarianceStamped, TransformStamped)
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rclpy.time import Time  # noqa: E402
from ros2_infer import conversions as conv  # noqa: E402
from ros2_infer.core.detections import Detections  # noqa: E402
from ros2_infer.core.landmark_map import Landmark, save_landmark_map  # noqa: E402
from ros2_infer.core.sensors import CameraInfo  # noqa: E402
from ros2_infer.nodes.base import latched_qos, sensor_qos  # noqa: E402
from ros2_infer.nodes.localizer_node import LocalizerNode  # noqa: E402
from sensor_msgs.msg import CameraInfo as CameraInfoMsg, Image  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from vision_msgs.msg import Detection2DArray, Detection3DArray  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC + 250_000_000
OPTICAL = 'camera_rgb_optical_frame'


@pytest.fixture
def ros():
    rclpy.init()
    yield
    rclpy.try_shutdown()


def state_of(node) -> str:
    return node._state_machine.current_state[1]


def stamp_of(msg) -> int:
    return msg.header.stamp.sec * SEC + msg.header.stamp.nanosec


def spin_until(executor, predicate, timeout=20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return bool(predicate())


def spin_for(executor, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.02)


def odom_msg(ns, x=0.0):
    msg = Odometry()
    msg.header = conv.make_header(None, ns, 'odom')
    msg.child_frame_id = 'base_footprint'
    msg.pose.pose.position.x = float(x)
    msg.pose.pose.orientation.w = 1.0
    return msg


def amcl_msg(ns, x=1.0, y=2.0, frame='map'):
    msg = PoseWithCovarianceStamped()
    msg.header = conv.make_header(None, ns, frame)
    msg.pose.pose.position.x, msg.pose.pose.position.y = float(x), float(y)
    msg.pose.pose.orientation.w = 1.0
    cov = np.zeros(36)
    cov[0] = cov[7] = 0.01
    cov[35] = 0.002
    msg.pose.covariance = cov
    return msg


def transform(ns, parent, child, xyz, quat):
    t = TransformStamped()
    t.header = conv.make_header(None, ns, parent)
    t.child_frame_id = child
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = xyz
    (t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z,
     t.transform.rotation.w) = quat
    return t


class Probe:
    """A plain node that publishes the localizer's inputs and records its outputs."""

    def __init__(self):
        self.node = rclpy.create_node('probe')
        self.received = {}
        n = self.node
        self.odom = n.create_publisher(Odometry, 'odom', sensor_qos())
        self.amcl = n.create_publisher(PoseWithCovarianceStamped, 'amcl_pose', latched_qos())
        self.initialpose = n.create_publisher(PoseWithCovarianceStamped, 'initialpose', 10)
        self.info = n.create_publisher(CameraInfoMsg, 'camera_info', sensor_qos())
        self.detections = n.create_publisher(Detection2DArray, 'detections', sensor_qos())
        self.tf = n.create_publisher(TFMessage, '/tf', 100)
        static = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                            durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.tf_static = n.create_publisher(TFMessage, '/tf_static', static)
        self.listen(PoseWithCovarianceStamped, 'pose')
        self.listen(TransformStamped, 'map_to_odom')
        self.listen(Detection3DArray, 'objects')
        self.listen(Detection3DArray, 'objects_base')
        self.listen(MarkerArray, 'landmarks', latched_qos())
        self.listen(DiagnosticArray, '/diagnostics')
        self.listen(TFMessage, '/tf')

    def listen(self, msg_type, topic, qos=10):
        self.received[topic] = []
        self.node.create_subscription(msg_type, topic, self.received[topic].append, qos)


def started(executor, probe, **params):
    node = LocalizerNode(parameter_overrides=[Parameter(k, value=v)
                                              for k, v in params.items()])
    executor.add_node(node)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert state_of(node) == 'active'
    # Let discovery connect the probe's publishers to the new subscriptions.
    spin_until(executor, lambda: all(pub.get_subscription_count() > 0 for pub in (
        probe.odom, probe.info, probe.detections, probe.amcl)), 5.0)
    return node


def publish_until(executor, publisher, msg, predicate, timeout=20.0) -> bool:
    """Publish ``msg`` every 0.1 s until ``predicate()`` (best-effort inputs may be lost)."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        publisher.publish(msg)
        spin_until(executor, predicate, 0.1)
    return bool(predicate())


@pytest.fixture
def rig(ros):
    executor = SingleThreadedExecutor()
    probe = Probe()
    executor.add_node(probe.node)
    nodes = []

    def start(**params):
        node = started(executor, probe, **params)
        nodes.append(node)
        return node

    yield executor, probe, start
    for node in nodes:
        node.destroy_node()
    probe.node.destroy_node()
    executor.shutdown()


def localize(executor, probe, node, x=1.0, y=2.0, t0=T0):
    """Odometry at t0, AMCL at t0, odometry at t0 + 0.1 s: the first fused pose."""
    assert publish_until(executor, probe.odom, odom_msg(t0),
                         lambda: node.pipeline.last_odom_stamp == t0)
    probe.amcl.publish(amcl_msg(t0, x, y))
    assert spin_until(executor, lambda: node.pipeline.localizer.initialized)
    assert publish_until(executor, probe.odom, odom_msg(t0 + SEC // 10, x=0.05),
                         lambda: probe.received['pose'])
    return probe.received['pose'][-1]


def test_parameters_are_validated_on_set(rig):
    executor, probe, start = rig
    node = start()

    def accepted(name, value):
        return node.set_parameters([Parameter(name, value=value)])[0].successful

    assert not accepted('objects.min_score', 1.5)
    assert not accepted('slam.gate', 0.5)
    assert not accepted('slam.inflate', 'a lot')
    assert not accepted('fusion.max_scan_age', 1)          # an integer is not a double
    assert not accepted('slam.input', 'tf')                # read-only
    assert not accepted('frames.map', 'world')             # read-only
    assert not accepted('publish_map_to_odom', True)       # read-only
    assert accepted('objects.min_score', 0.6)
    assert accepted('slam.gate', 12.0)
    assert accepted('landmarks.use', False)
    # Applied to the running core's configuration.
    assert node.pipeline.config.min_score == pytest.approx(0.6)
    assert node.pipeline.config.localizer.slam_gate == pytest.approx(12.0)
    assert not node.pipeline.config.use_landmarks
    descriptor = node.describe_parameter('slam.gate')
    assert descriptor.description
    assert descriptor.floating_point_range[0].from_value == pytest.approx(1.0)
    assert node.describe_parameter('slam.input').read_only
    assert 'amcl_pose' in node.describe_parameter('slam.input').description


@pytest.mark.parametrize('params, why', [
    ({'publish_map_to_odom': True, 'slam.input': 'tf'}, 'own map->odom'),
    ({'map.mode': 'known'}, 'map.known_file'),
    ({'map.mode': 'known', 'map.known_file': '/nonexistent/landmarks.yaml'}, 'map.known_file'),
    ({'map.mode': 'known', 'map.known_file': 'MALFORMED'}, 'map.known_file'),
])
def test_bad_configuration_fails_configure_and_stays_unconfigured(ros, tmp_path, params, why):
    # (Out-of-range values never get this far: rclpy refuses them against the descriptor's
    # range when the node declares its parameters.)
    if params.get('map.known_file') == 'MALFORMED':
        bad = tmp_path / 'bad.yaml'
        bad.write_text('landmarks: [{id: 1, class: pillar}]\n', encoding='utf-8')
        params = dict(params, **{'map.known_file': str(bad)})
    node = LocalizerNode(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert state_of(node) == 'unconfigured'
        assert why in node._load_error
    finally:
        node.destroy_node()


def test_pose_after_odom_and_amcl_pose_carries_the_odometry_stamp(rig):
    executor, probe, start = rig
    node = start()
    probe.odom.publish(odom_msg(T0))
    spin_for(executor, 0.3)
    assert probe.received['pose'] == []       # no SLAM pose yet: nothing to publish
    pose = localize(executor, probe, node)
    assert stamp_of(pose) == T0 + SEC // 10   # the odometry message's stamp
    assert pose.header.frame_id == 'map'
    assert pose.pose.pose.position.x == pytest.approx(1.05, abs=0.01)
    assert pose.pose.pose.position.y == pytest.approx(2.0, abs=0.01)
    cov = np.asarray(pose.pose.covariance).reshape(6, 6)
    assert cov[0, 0] > 0 and cov[5, 5] > 0
    # One pose per odometry message from now on, each with its own stamp.
    probe.odom.publish(odom_msg(T0 + 2 * SEC // 10, x=0.1))
    assert spin_until(executor, lambda: len(probe.received['pose']) >= 2)
    assert stamp_of(probe.received['pose'][-1]) == T0 + 2 * SEC // 10
    # map->odom is not broadcast by default (it would fight AMCL's).
    assert not any(t.child_frame_id == 'odom' for m in probe.received['/tf']
                   for t in m.transforms)


def test_an_initial_pose_from_rviz_starts_the_estimate_again(rig):
    executor, probe, start = rig
    node = start()
    localize(executor, probe, node)                       # at (1.05, 2.0), odometry x 0.05
    assert spin_until(executor, lambda: probe.initialpose.get_subscription_count() > 0, 5.0)
    given = amcl_msg(0, x=4.0, y=-1.0)                    # stamp 0: now
    given.pose.covariance = np.array([0.25, 0, 0, 0, 0, 0, 0, 0.25] + [0.0] * 27 + [0.0685])
    probe.initialpose.publish(given)
    assert spin_until(executor, lambda: node.pipeline.faults.get('initial_pose') == 1)
    probe.odom.publish(odom_msg(T0 + 2 * SEC // 10, x=0.1))
    assert spin_until(executor, lambda: stamp_of(probe.received['pose'][-1]) ==
                      T0 + 2 * SEC // 10)
    pose = probe.received['pose'][-1].pose.pose.position
    assert (pose.x, pose.y) == (pytest.approx(4.05, abs=0.01), pytest.approx(-1.0, abs=0.01))
    # one in the odom frame is refused (a counted fault), and changes nothing
    probe.initialpose.publish(amcl_msg(0, 9.0, 9.0, frame='odom'))
    assert spin_until(executor, lambda: node.pipeline.faults.get('initial_pose_frame') == 1)
    assert node.pipeline.faults['initial_pose'] == 1


def test_without_slam_an_initial_pose_starts_the_estimate(rig, tmp_path):
    executor, probe, start = rig
    save_landmark_map(tmp_path / 'known.yaml', [Landmark(1, 'pillar', (2.0, 0.0, 0.1))])
    node = start(**{'slam.input': 'none', 'map.mode': 'known',
                    'map.known_file': str(tmp_path / 'known.yaml'),
                    'publish_map_to_odom': True})
    assert publish_until(executor, probe.odom, odom_msg(T0),
                         lambda: node.pipeline.last_odom_stamp == T0)
    probe.amcl.publish(amcl_msg(T0, 9.0, 9.0))              # not listened to
    spin_for(executor, 0.3)
    assert not node.pipeline.localizer.initialized and probe.received['pose'] == []
    node.publish_diagnostics()
    assert spin_until(executor, lambda: probe.received['/diagnostics'])
    assert 'waiting for an initial pose' in probe.received['/diagnostics'][-1].status[0].message
    assert spin_until(executor, lambda: probe.initialpose.get_subscription_count() > 0, 5.0)
    probe.initialpose.publish(amcl_msg(T0, 1.0, 2.0))
    assert spin_until(executor, lambda: node.pipeline.localizer.initialized)
    assert publish_until(executor, probe.odom, odom_msg(T0 + SEC // 10, x=0.05),
                         lambda: probe.received['pose'])
    pose = probe.received['pose'][-1].pose.pose.position
    assert (pose.x, pose.y) == (pytest.approx(1.05, abs=0.01), pytest.approx(2.0, abs=0.01))
    # the node is the map->odom source now: broadcast, stamped with the odometry
    assert spin_until(executor, lambda: any(
        t.child_frame_id == 'odom' for m in probe.received['/tf'] for t in m.transforms))


def test_the_initial_pose_parameters_start_the_estimate_at_the_first_odometry(rig):
    executor, probe, start = rig
    node = start(**{'slam.input': 'none', 'initial_pose.set': True, 'initial_pose.x': 1.0,
                    'initial_pose.y': 2.0, 'initial_pose.yaw': 0.0})
    assert publish_until(executor, probe.odom, odom_msg(T0),
                         lambda: node.pipeline.localizer.initialized)
    assert node.pipeline.faults['initial_pose'] == 1
    assert publish_until(executor, probe.odom, odom_msg(T0 + SEC // 10, x=0.05),
                         lambda: probe.received['pose'])
    pose = probe.received['pose'][-1]
    assert stamp_of(pose) == T0 + SEC // 10
    assert (pose.pose.pose.position.x, pose.pose.pose.position.y) == (
        pytest.approx(1.05, abs=0.01), pytest.approx(2.0, abs=0.01))
    # once per configure: later odometry does not start it again
    probe.odom.publish(odom_msg(T0 + 2 * SEC // 10, x=0.1))
    spin_for(executor, 0.3)
    assert node.pipeline.faults['initial_pose'] == 1


def test_map_to_odom_on_tf_is_the_slam_input(rig):
    executor, probe, start = rig
    node = start(**{'slam.input': 'tf'})
    # The TransformListener's /tf subscription and the SLAM one.
    spin_until(executor, lambda: probe.tf.get_subscription_count() >= 2, 5.0)
    probe.odom.publish(odom_msg(T0))
    assert spin_until(executor, lambda: node.pipeline.last_odom_stamp == T0)
    probe.tf.publish(TFMessage(transforms=[
        transform(T0, 'map', 'odom', (0.5, -1.0, 0.0), (0.0, 0.0, 0.0, 1.0))]))
    assert spin_until(executor, lambda: node.pipeline.localizer.initialized)
    probe.odom.publish(odom_msg(T0 + SEC // 10, x=0.2))
    assert spin_until(executor, lambda: probe.received['pose'])
    pose = probe.received['pose'][-1]
    assert stamp_of(pose) == T0 + SEC // 10
    assert pose.pose.pose.position.x == pytest.approx(0.7, abs=0.01)
    assert pose.pose.pose.position.y == pytest.approx(-1.0, abs=0.01)


def test_map_to_odom_is_broadcast_only_when_enabled(rig):
    executor, probe, start = rig
    node = start(publish_map_to_odom=True)
    localize(executor, probe, node, x=1.0, y=2.0)

    def broadcast():
        return [t for m in probe.received['/tf'] for t in m.transforms
                if t.header.frame_id == 'map' and t.child_frame_id == 'odom']

    assert spin_until(executor, lambda: broadcast())
    edge = broadcast()[-1]
    assert stamp_of(edge) == T0 + SEC // 10
    assert edge.transform.translation.x == pytest.approx(1.0, abs=0.01)


def test_the_map_to_odom_correction_is_published_at_each_fused_pose(rig):
    executor, probe, start = rig
    node = start()                              # publish_map_to_odom: false (the default)
    pose = localize(executor, probe, node, x=1.0, y=2.0)

    def corrections():
        return [c for c in probe.received['map_to_odom'] if stamp_of(c) == stamp_of(pose)]

    assert spin_until(executor, corrections)        # one per fused pose, at the pose's stamp
    correction = corrections()[-1]
    assert (correction.header.frame_id, correction.child_frame_id) == ('map', 'odom')
    assert stamp_of(correction) == T0 + SEC // 10
    # AMCL put the robot at (1, 2) where odometry said (0, 0): map->odom is that offset.
    assert correction.transform.translation.x == pytest.approx(1.0, abs=0.01)
    assert correction.transform.translation.y == pytest.approx(2.0, abs=0.01)
    spin_for(executor, 0.3)
    assert not [t for m in probe.received['/tf'] for t in m.transforms
                if t.header.frame_id == 'map' and t.child_frame_id == 'odom']   # not broadcast


def call_save_map(executor, probe, node_name='localizer'):
    """Call ``/<node>/save_map`` (std_srvs/Trigger) from the probe; return the response."""
    client = probe.node.create_client(Trigger, f'/{node_name}/save_map')
    assert spin_until(executor, client.service_is_ready, 10.0)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done)
    probe.node.destroy_client(client)
    return future.result()


def test_the_save_map_service_writes_the_map_while_the_node_runs(rig, tmp_path):
    executor, probe, start = rig
    known = tmp_path / 'known.yaml'
    save_landmark_map(known, [Landmark(1, 'pillar', (1.0, 1.0, 0.25), (0.3, 0.3, 0.5), 0.0),
                              Landmark(2, 'barrel', (2.0, -1.0, 0.3), (0.4, 0.4, 0.6), 0.0)])
    saved = tmp_path / 'out' / 'now.yaml'
    node = start(**{'map.mode': 'known', 'map.known_file': str(known),
                    'map.save_file': str(saved)})
    localize(executor, probe, node)
    response = call_save_map(executor, probe)
    assert response.success, response.message
    assert str(saved) in response.message and '2 landmarks' in response.message
    text = saved.read_text(encoding='utf-8')
    assert 'pillar' in text and 'barrel' in text
    assert state_of(node) == 'active'                       # saving stops nothing
    saved.unlink()
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert saved.is_file()                                  # cleanup still saves the last map


def test_the_save_map_service_says_why_without_a_file(rig):
    executor, probe, start = rig
    node = start()                                          # map.save_file: ''
    response = call_save_map(executor, probe)
    assert not response.success and 'map.save_file' in response.message
    assert localize(executor, probe, node) is not None      # still working


def see_and_localize(executor, probe, node):
    """Send the camera info, wait for the latched camera mount, then localise."""
    camera = CameraInfo(640, 480, np.array([[530.5, 0, 320.5], [0, 530.5, 240.5], [0, 0, 1]]),
                        np.zeros(5))
    assert publish_until(executor, probe.info,
                         conv.camera_info_to_msg(camera, conv.make_header(None, T0, OPTICAL)),
                         lambda: node.pipeline.camera is not None)
    assert spin_until(executor, lambda: node._tf_buffer.can_transform(
        'base_footprint', OPTICAL, Time()))
    localize(executor, probe, node)


def test_objects_carry_the_image_stamp_and_the_map_frame(rig):
    executor, probe, start = rig
    probe.tf_static.publish(TFMessage(transforms=[
        transform(0, 'base_footprint', OPTICAL, (0.076, 0.0, 0.103), (-0.5, 0.5, -0.5, 0.5))]))
    node = start()
    see_and_localize(executor, probe, node)
    image_ns = T0 + SEC // 20
    detections = Detections(np.array([[300.0, 300.0, 340.0, 400.0]], np.float32),
                            np.array([0.9], np.float32), np.array([0]), ('pillar',))
    assert publish_until(executor, probe.detections, conv.detections_to_msg(
        detections, conv.make_header(None, image_ns, OPTICAL), conv.VisionTypes()),
        lambda: probe.received['objects'])
    objects = probe.received['objects'][-1]
    assert stamp_of(objects) == image_ns
    assert objects.header.frame_id == 'map'
    for detection in objects.detections:
        assert detection.results[0].hypothesis.class_id == 'pillar'
        assert np.isfinite(detection.bbox.center.position.x)
        covariance = np.asarray(detection.results[0].pose.covariance).reshape(6, 6)
        assert covariance[0, 0] > 0 and covariance[1, 1] > 0
    assert spin_until(executor, lambda: probe.received['objects_base'])
    in_base = probe.received['objects_base'][-1]
    assert stamp_of(in_base) == image_ns and in_base.header.frame_id == 'base_footprint'
    assert len(in_base.detections) == len(objects.detections)
    assert 'missing_tf' not in node.pipeline.faults
    assert node.stats.outputs.count >= 2   # poses and objects, with latencies


def test_objects_the_scan_misses_are_placed_by_the_depth_of_their_own_image(rig):
    executor, probe, start = rig
    probe.tf_static.publish(TFMessage(transforms=[
        transform(0, 'base_footprint', OPTICAL, (0.076, 0.0, 0.103), (-0.5, 0.5, -0.5, 0.5))]))
    depth_pub = probe.node.create_publisher(Image, 'depth', sensor_qos())
    node = start(**{'objects.use_depth': True})
    spin_until(executor, lambda: depth_pub.get_subscription_count() > 0, 5.0)
    see_and_localize(executor, probe, node)
    image_ns = T0 + SEC // 20
    # The depth node's output for this image: 2 m everywhere (REP 118, 32FC1).
    depth = conv.array_to_image(np.full((480, 640), 2.0, np.float32), '32FC1',
                                conv.make_header(None, image_ns, OPTICAL))
    assert publish_until(executor, depth_pub, depth,
                         lambda: image_ns in node._depths._images)
    # A box low in the image: the floor under its bottom edge would put it 0.34 m ahead.
    detections = Detections(np.array([[300.0, 300.0, 340.0, 400.0]], np.float32),
                            np.array([0.9], np.float32), np.array([0]), ('box',))
    assert publish_until(executor, probe.detections, conv.detections_to_msg(
        detections, conv.make_header(None, image_ns, OPTICAL), conv.VisionTypes()),
        lambda: probe.received['objects'])
    box = probe.received['objects'][-1].detections[0]
    assert stamp_of(probe.received['objects'][-1]) == image_ns
    # Robot near x = 1.03 at the image stamp, camera 0.076 m ahead, surface 2 m, + the box.
    assert 3.1 < box.bbox.center.position.x < 3.5
    assert node._depths.found == 1


def test_rejected_inputs_are_counted_and_the_node_keeps_running(rig):
    executor, probe, start = rig
    node = start()
    bad = odom_msg(T0)
    bad.pose.pose.position.x = float('nan')
    assert publish_until(executor, probe.odom, bad, lambda: node.stats.rejected.get('odom'))
    probe.amcl.publish(amcl_msg(T0, frame='odom'))          # not the map frame
    assert spin_until(executor, lambda: node.stats.rejected.get('slam_frame'))
    info = CameraInfoMsg()
    info.header = conv.make_header(None, T0, OPTICAL)
    assert publish_until(executor, probe.info, info,          # uncalibrated: K all zero
                         lambda: node.stats.rejected.get('camera_info'))
    assert localize(executor, probe, node) is not None       # still working


def test_an_activation_that_would_fuse_its_own_output_is_refused_cleanly(ros):
    node = LocalizerNode(cli_args=['--ros-args', '-r', 'slam_pose:=pose'],
                         parameter_overrides=[Parameter('slam.input', value='pose')])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.FAILURE
        assert state_of(node) == 'inactive'
        assert not node._inputs and node.worker is None
        assert not any(pub.is_activated for pub in node._outputs.values())
    finally:
        node.destroy_node()


def test_known_map_gives_landmarks_and_the_built_map_is_saved(rig, tmp_path):
    executor, probe, start = rig
    known = tmp_path / 'known.yaml'
    # As a mapping run saves it: each landmark's own covariance and the map's shared offset.
    save_landmark_map(known, [Landmark(1, 'pillar', (1.0, 1.0, 0.25), (0.3, 0.3, 0.5), 0.0,
                                       (4e-5, 0.0, 4e-5)),
                              Landmark(2, 'barrel', (2.0, -1.0, 0.3), (0.4, 0.4, 0.6), 0.0,
                                       (5e-5, 0.0, 5e-5))],
                      offset_covariance=(4e-4, 0.0, 4e-4))
    saved = tmp_path / 'out' / 'saved.yaml'
    node = start(**{'map.mode': 'known', 'map.known_file': str(known),
                    'map.save_file': str(saved), 'landmarks.period': 0.1})
    assert node.pipeline.known_map_offset == (4e-4, 0.0, 4e-4)
    assert node.pipeline.map.landmarks[1].prior[2]          # tied to the shared offset
    assert spin_until(executor, lambda: probe.received['landmarks'])
    markers = probe.received['landmarks'][-1].markers
    assert len(markers) == 1 + 2 * 2 and markers[0].action == 3   # DELETEALL first
    assert {m.header.frame_id for m in markers} == {'map'}
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert state_of(node) == 'unconfigured'
    text = saved.read_text(encoding='utf-8')
    assert 'frame_id: map' in text and 'pillar' in text and 'barrel' in text


def test_diagnostics_report_state_and_faults(rig):
    executor, probe, start = rig
    node = start()
    node.publish_diagnostics()
    assert spin_until(executor, lambda: probe.received['/diagnostics'])
    status = probe.received['/diagnostics'][-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert status.name == 'ros2_infer: localizer'
    assert status.level == DiagnosticStatus.WARN    # waiting for the first SLAM pose
    assert values['localized'] == 'False' and values['slam_input'] == 'amcl_pose'
    localize(executor, probe, node)
    probe.received['/diagnostics'].clear()
    node.publish_diagnostics()
    assert spin_until(executor, lambda: probe.received['/diagnostics'])
    values = {kv.key: kv.value for kv in probe.received['/diagnostics'][-1].status[0].values}
    assert values['localized'] == 'True'
    assert float(values['latency_p50_ms']) >= 0.0
    assert int(values['localizer.keyframes']) >= 1
    for key in ('input_rate_hz', 'output_rate_hz', 'dropped_frames', 'faults'):
        assert key in values


def test_backwards_time_jump_resets_the_core(rig):
    executor, probe, start = rig
    node = start()
    localize(executor, probe, node)
    node._on_time_jump(None)                       # what the clock's jump callback calls
    assert not node.pipeline.localizer.initialized
    assert node.pipeline.faults.get('reset') == 1
    # And it localises again from the replayed (earlier) stream.
    probe.received['pose'].clear()
    pose = localize(executor, probe, node, t0=T0 - 5 * SEC)
    assert stamp_of(pose) == T0 - 5 * SEC + SEC // 10


def test_pose_stamped_slam_input(rig):
    executor, probe, start = rig
    node = start(**{'slam.input': 'pose', 'slam.pose_type': 'PoseStamped'})
    pub = probe.node.create_publisher(PoseStamped, 'slam_pose', 10)
    probe.odom.publish(odom_msg(T0))
    assert spin_until(executor, lambda: node.pipeline.last_odom_stamp == T0)
    msg = PoseStamped()
    msg.header = conv.make_header(None, T0, 'map')
    msg.pose.position.x = -1.0
    msg.pose.orientation.w = 1.0
    spin_until(executor, lambda: pub.get_subscription_count() > 0, 5.0)
    pub.publish(msg)
    assert spin_until(executor, lambda: node.pipeline.localizer.initialized)
    probe.odom.publish(odom_msg(T0 + SEC // 10))
    assert spin_until(executor, lambda: probe.received['pose'])
    assert probe.received['pose'][-1].pose.pose.position.x == pytest.approx(-1.0, abs=0.01)
