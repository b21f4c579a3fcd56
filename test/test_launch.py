"""
perception.launch.py: its description, and a launch_pytest run against fake sensors.

Skipped where rclpy is absent. The integration test starts the installed launch file (as
``colcon test`` does), feeds camera images, camera_info, scans, odometry and TF from a probe
node, and waits for detections, depth and the fused pose stamped with the inputs' stamps.
"""

import importlib.util
from pathlib import Path
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
launch_pytest = pytest.importorskip('launch_pytest')

from geometry_msgs.msg import (  # noqa: E402, I100 (after the skip)
    PoseWithCovarianceStamped, TransformStamped)
from launch import LaunchContext, LaunchDescription  # noqa: E402
from launch.actions import (  # noqa: E402
    DeclareLaunchArgument, IncludeLaunchDescription, LogInfo, RegisterEventHandler)
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from launch_ros.actions import LifecycleNode  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from ros2_infer import conversions as conv  # noqa: E402
from ros2_infer.core.sensors import CameraInfo  # noqa: E402
from ros2_infer.nodes.base import sensor_qos  # noqa: E402
from sensor_msgs.msg import CameraInfo as CameraInfoMsg, Image, LaserScan  # noqa: E402
from test_nodes_models import make_depth_model  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

SOURCE = Path(__file__).resolve().parents[1] / 'launch' / 'perception.launch.py'


def load_launch_module():
    spec = importlib.util.spec_from_file_location('perception_launch', SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def setup_actions(module, **arguments):
    context = LaunchContext()
    values = {'namespace': '', 'params_file': '/tmp/perception.yaml', 'log_level': 'info',
              'robot_model': 'waffle_pi', 'use_detector': 'true', 'use_depth': 'true',
              'detector_model': '', 'depth_model': '', 'device': '', 'compressed': '',
              'use_localizer': 'true', 'slam_input': ''}
    values.update(arguments)
    context.launch_configurations.update(values)
    return module.launch_setup(context)


def test_every_argument_is_described():
    pytest.importorskip('ament_index_python')
    module = load_launch_module()
    try:
        description = module.generate_launch_description()
    except Exception:  # noqa: B902 - the package is not installed (plain pytest run)
        pytest.skip('ros2_infer is not installed in an ament index')
    arguments = [a for a in description.entities if isinstance(a, DeclareLaunchArgument)]
    names = {a.name for a in arguments}
    assert {'namespace', 'params_file', 'use_sim_time', 'log_level', 'robot_model',
            'use_detector', 'use_depth', 'use_localizer', 'slam_input', 'detector_model',
            'depth_model'} <= names
    assert all(a.description and a.description != 'no description given' for a in arguments)


def lifecycle_nodes(actions):
    return [a for a in actions if isinstance(a, LifecycleNode)]


def test_waffle_pi_starts_three_lifecycle_nodes_with_transitions():
    actions = setup_actions(load_launch_module())
    nodes = lifecycle_nodes(actions)
    handlers = [a for a in actions if isinstance(a, RegisterEventHandler)]
    assert len(nodes) == 3 and len(handlers) == 6  # configure on start, activate on inactive


def test_burger_has_no_camera_so_only_the_localizer_runs():
    actions = setup_actions(load_launch_module(), robot_model='burger')
    assert len(lifecycle_nodes(actions)) == 1  # the localizer: odom + SLAM + scan
    assert len([a for a in actions if isinstance(a, LogInfo)]) == 2


def test_switches_turn_nodes_off():
    module = load_launch_module()
    assert len(lifecycle_nodes(setup_actions(module, use_depth='false'))) == 2
    # Without the detector the localizer still runs (odometry + SLAM + scan).
    assert len(lifecycle_nodes(setup_actions(module, use_detector='false',
                                             use_depth='false'))) == 1
    assert len(lifecycle_nodes(setup_actions(module, use_localizer='false'))) == 2


def test_localizer_remappings_follow_the_slam_input():
    module = load_launch_module()
    base = next(n for n in module.NODES if n[0] == 'localizer')[5]
    names = dict(base)
    assert names['camera_info'] == 'camera/camera_info' and names['amcl_pose'] == 'amcl_pose'
    assert names['slam_pose'] == 'pose' and names['odom'] == 'odom'
    assert all(not target.startswith('/') for _, target in base)  # namespace works
    assert ('pose', 'localizer/pose') in module.localizer_remappings(base, 'pose')
    assert module.localizer_remappings(base, 'tf') == base
    assert module.localizer_remappings(base, 'none') == base
    assert 'none' in module.SLAM_INPUTS


def test_landmark_map_arguments_set_the_localizers_map_parameters():
    module = load_launch_module()
    assert module.landmark_map_overrides('', '') == {}
    assert module.landmark_map_overrides('/maps/lm.yaml', '') == {
        'map.mode': 'known', 'map.known_file': '/maps/lm.yaml'}
    assert module.landmark_map_overrides('', '/tmp/out.yaml') == {'map.save_file': '/tmp/out.yaml'}
    # the bringup with them still starts all three nodes
    actions = setup_actions(module, landmark_map='/maps/lm.yaml', save_landmark_map='/tmp/o.yaml')
    assert len(lifecycle_nodes(actions)) == 3
    with pytest.raises(ValueError):
        setup_actions(module, slam_input='gps')


# ---- integration ---------------------------------------------------------------------------
NAMESPACE = 'tb3'


@pytest.fixture(scope='module')
def model_specs(generated_detector_dir, tmp_path_factory):
    return {'detector_model': str(generated_detector_dir / 'tinydet.yaml'),
            'depth_model': str(make_depth_model(tmp_path_factory.mktemp('depth')))}


@launch_pytest.fixture(scope='module')
def perception(model_specs):
    from ament_index_python.packages import get_package_share_directory

    path = Path(get_package_share_directory('ros2_infer')) / 'launch' / 'perception.launch.py'
    arguments = dict(model_specs, namespace=NAMESPACE, robot_model='waffle_pi')
    return LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(str(path)),
                                 launch_arguments=list(arguments.items())),
        launch_pytest.actions.ReadyToTest(),
    ])


def transform(ns, parent, child, xyz, quat):
    t = TransformStamped()
    t.header = conv.make_header(None, ns, parent)
    t.child_frame_id = child
    # Humble's generated setters refuse ints in float fields.
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (
        float(v) for v in xyz)
    (t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z,
     t.transform.rotation.w) = (float(v) for v in quat)
    return t


class FakeTurtleBot:
    """Publishes what a Waffle Pi publishes, under the namespace, from a spinning thread."""

    def __init__(self):
        self.node = rclpy.create_node('fake_turtlebot', namespace=NAMESPACE)
        n = self.node
        self.image = n.create_publisher(Image, 'camera/image_raw', sensor_qos())
        self.info = n.create_publisher(CameraInfoMsg, 'camera/camera_info', sensor_qos())
        self.scan = n.create_publisher(LaserScan, 'scan', sensor_qos())
        self.odom = n.create_publisher(Odometry, 'odom', sensor_qos())
        self.tf = n.create_publisher(TFMessage, 'tf', 100)
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.tf_static = n.create_publisher(TFMessage, 'tf_static', latched)
        self.amcl = n.create_publisher(PoseWithCovarianceStamped, 'amcl_pose', latched)
        self.detections, self.depth, self.pose = [], [], []
        n.create_subscription(Detection2DArray, 'detections', self.detections.append, 10)
        n.create_subscription(Image, 'depth', self.depth.append, 10)
        n.create_subscription(PoseWithCovarianceStamped, 'pose', self.pose.append, 10)
        self.tf_static.publish(TFMessage(transforms=[
            transform(0, 'base_footprint', 'base_scan', (-0.064, 0.0, 0.132), (0, 0, 0, 1)),
            transform(0, 'base_footprint', 'camera_rgb_optical_frame', (0.076, 0.0, 0.103),
                      (-0.5, 0.5, -0.5, 0.5))]))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        while not self._stop.is_set() and rclpy.ok():
            rclpy.spin_once(self.node, timeout_sec=0.05)

    def publish_frame(self, ns, pixels):
        self.tf.publish(TFMessage(transforms=[
            transform(ns, 'odom', 'base_footprint', (0.0, 0.0, 0.0), (0, 0, 0, 1))]))
        odom = Odometry()
        odom.header = conv.make_header(None, ns, 'odom')
        odom.child_frame_id = 'base_footprint'
        odom.pose.pose.orientation.w = 1.0
        self.odom.publish(odom)
        amcl = PoseWithCovarianceStamped()
        amcl.header = conv.make_header(None, ns, 'map')
        amcl.pose.pose.position.x = 1.0
        amcl.pose.pose.orientation.w = 1.0
        self.amcl.publish(amcl)
        camera = CameraInfo(640, 480, np.array([[530.5, 0, 320.5], [0, 530.5, 240.5],
                                                [0, 0, 1]]), np.zeros(5))
        header = conv.make_header(None, ns, 'camera_rgb_optical_frame')
        self.info.publish(conv.camera_info_to_msg(camera, header))
        self.scan.publish(conv.scan_to_msg(wall_scan(), conv.make_header(None, ns, 'base_scan')))
        self.image.publish(conv.array_to_image(pixels, 'rgb8', header))

    def close(self):
        self._stop.set()
        self._thread.join(2.0)
        self.node.destroy_node()


def wall_scan():
    from ros2_infer.core.sensors import LaserScan as Scan

    angles = np.arange(360) * (2 * np.pi / 360)
    with np.errstate(divide='ignore'):
        ranges = np.where(np.cos(angles) > 0.3, 2.0 / np.cos(angles), np.nan)
    ranges = np.where(ranges <= 3.5, ranges, np.nan).astype(np.float32)
    return Scan(0, 'base_scan', 0.0, 2 * np.pi / 360, 0.2 / 360, 0.2, 0.12, 3.5, ranges)


@pytest.mark.launch(fixture=perception)
def test_launch_feeds_sensors_and_gets_detections_depth_and_pose():
    rclpy.init()
    robot = FakeTurtleBot()
    try:
        pixels = np.full((480, 640, 3), 128, np.uint8)
        sent = set()
        deadline = time.monotonic() + 90.0  # model loading and lifecycle start-up included
        while time.monotonic() < deadline and not (robot.detections and robot.depth
                                                   and robot.pose):
            ns = time.time_ns()
            sent.add(ns)
            robot.publish_frame(ns, pixels)
            time.sleep(0.2)
        assert robot.detections, 'no detections: did configure/activate run?'
        assert robot.depth, 'no depth image'
        assert robot.pose, 'no fused pose from the localizer (odom + amcl_pose)'
        assert robot.pose[0].header.frame_id == 'map'
        assert robot.pose[0].pose.pose.position.x == pytest.approx(1.0, abs=0.05)
        for msg in (robot.detections[0], robot.depth[0], robot.pose[0]):
            assert msg.header.stamp.sec * 10 ** 9 + msg.header.stamp.nanosec in sent
        assert robot.depth[0].encoding == '32FC1'
    finally:
        robot.close()
        rclpy.try_shutdown()
