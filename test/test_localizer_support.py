"""
ROS-free tests of the localizer node's helpers (ros2_infer.nodes.localizer_support).

Messages are built with the rosbags classes, the same code paths rclpy messages take; the
fusion core is driven the way the node drives it (odometry, a SLAM pose, mounts as
stamp-independent edges, detections).
"""

import numpy as np
import pytest

pytest.importorskip('gtsam')

from ros2_infer import conversions as conv  # noqa: E402, I100 (after the skip)
from ros2_infer.core.detections import Detections  # noqa: E402
from ros2_infer.core.landmark_map import Landmark  # noqa: E402
from ros2_infer.core.objects import Object3D as CoreObject  # noqa: E402
from ros2_infer.core.pipeline import (FusedPose, FusionPipeline, MapObject,  # noqa: E402
                                      PipelineConfig)
from ros2_infer.core.sensors import CameraInfo, PoseStamped, Transform  # noqa: E402
from ros2_infer.nodes.localizer_support import (  # noqa: E402
    apply_values, base_objects, check_combination, DepthByStamp, fault_message, FaultReporter,
    fused_pose,
    landmark_objects, LIVE_PARAMS, LOCALIZER_PARAMS, map_objects, map_to_odom,
    pipeline_config, SLAM_INPUTS)

SEC = 1_000_000_000


@pytest.fixture(scope='module')
def types():
    from ros2_infer.rosbag.typestore import get_typestore

    return get_typestore().types


def defaults(**changes):
    values = {p.name: p.default for p in LOCALIZER_PARAMS}
    values.update(changes)
    return values


def test_parameters_are_well_formed():
    names = [p.name for p in LOCALIZER_PARAMS]
    assert len(names) == len(set(names))
    for param in LOCALIZER_PARAMS:
        assert param.description and param.check(param.default) is None, param.name
    by_name = {p.name: p for p in LOCALIZER_PARAMS}
    assert by_name['slam.input'].check('odom') is not None
    assert by_name['slam.gate'].check(0.5) is not None
    assert by_name['objects.min_score'].check(1.5) is not None
    assert by_name['objects.min_score'].check(1) is not None  # int is not a double
    assert by_name['publish_map_to_odom'].default is False
    assert set(LIVE_PARAMS) <= set(names)
    assert not any(by_name[name].read_only for name in LIVE_PARAMS)


def test_combinations_that_cannot_work_are_refused():
    assert check_combination(defaults()) is None
    assert 'own map->odom' in check_combination(
        defaults(publish_map_to_odom=True, **{'slam.input': 'tf'}))
    assert 'map.known_file' in check_combination(defaults(**{'map.mode': 'known'}))
    assert check_combination(defaults(**{'map.mode': 'known',
                                         'map.known_file': '/m.yaml'})) is None


def test_pipeline_config_follows_the_parameters():
    values = defaults(**{'frames.base': 'base_link', 'camera_frame': 'cam_optical',
                         'slam.input': 'tf', 'map.mode': 'known', 'map.known_file': 'x',
                         'slam.gate': 9.0, 'slam.min_sigma_xy': 0.05,
                         'fusion.max_scan_age': 0.1, 'objects.min_score': 0.6,
                         'odom.drift_sigma_rate': 0.0, 'odom.drift_sigma_distance': 0.0,
                         'slam.tf_min_period': 0.05, 'slam.converged_sigma': 0.4})
    config = pipeline_config(values)
    assert config.slam_tf_min_period_ns == 50_000_000
    assert config.slam_converged_sigma == 0.4
    assert PipelineConfig().slam_converged_sigma == defaults()['slam.converged_sigma']
    assert PipelineConfig().slam_tf_min_period_ns == defaults()['slam.tf_min_period'] * 1e9
    assert config.localizer.odom_drift_sigma == (0.0, 0.0)      # no drift state
    assert PipelineConfig().localizer.odom_drift_sigma == \
        (defaults()['odom.drift_sigma_rate'], defaults()['odom.drift_sigma_distance'])
    assert (config.map_frame, config.odom_frame, config.base_frame) == \
        ('map', 'odom', 'base_link')
    assert config.camera_frame == 'cam_optical'
    assert config.slam_style == 'cartographer' and not config.online_map
    assert config.localizer.slam_gate == 9.0
    assert config.localizer.slam_min_sigma == (0.05, 0.05, 0.015)
    assert config.max_scan_age_ns == int(0.1 * SEC) and config.min_score == 0.6
    # A live change reaches the same (shared) objects the running core reads.
    apply_values(config, dict(values, **{'slam.gate': 50.0, 'landmarks.use': False}))
    assert config.localizer.slam_gate == 50.0 and not config.use_landmarks
    # Each config has its own LocalizerConfig (no shared mutable default).
    assert pipeline_config(defaults()).localizer is not config.localizer
    assert {pipeline_config(defaults(**{'slam.input': k})).slam_style
            for k in SLAM_INPUTS} == {'amcl', 'slam_toolbox', 'cartographer', 'none'}


def test_fused_pose_and_map_to_odom_messages(types):
    cov = np.diag([0.01, 0.02, 0.003])
    fused = FusedPose(np.array([1.0, 2.0, 0.5]), cov, np.array([0.5, -0.2, 0.1]),
                      np.array([0.5, 2.0, 0.4]))
    pose = fused_pose(5 * SEC + 7, fused, 'map', 'base_footprint')
    msg = conv.pose_to_msg(pose, types)
    assert msg.header.frame_id == 'map'
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (5, 7)
    back = conv.pose_from_pose_with_covariance_stamped(msg)
    assert back.position[:2] == pytest.approx([1.0, 2.0])
    assert back.yaw() == pytest.approx(0.5)
    assert back.covariance[0, 0] == pytest.approx(0.01)
    assert back.covariance[5, 5] == pytest.approx(0.003)
    assert back.covariance[2, 2] == 0.0
    tf = conv.transform_to_msg(map_to_odom(5 * SEC, fused, 'map', 'odom'), types)
    assert (tf.header.frame_id, tf.child_frame_id) == ('map', 'odom')
    assert tf.transform.translation.x == pytest.approx(0.5)
    assert conv.transform_from_msg(tf).translation[1] == pytest.approx(-0.2)


def core_object(name='pillar', x=1.0):
    return CoreObject(name, 0.9, np.array([x, 0.0, 0.25]), np.eye(3) * 0.01, 'lidar',
                      np.array([0.0, 0.0, 10.0, 10.0]), 12, (0.3, 0.3, 0.5))


def test_map_objects_leave_out_unlocalized_ones(types):
    objects = [MapObject(core_object(), np.array([3.0, 1.0, 0.25]), np.eye(3), 4),
               MapObject(core_object('box'), np.full(3, np.nan), np.eye(3), None),
               MapObject(core_object('ball'), np.array([0.0, 1.0, 0.1]), np.eye(3), None)]
    out = map_objects(objects)
    assert [(o.class_name, o.id) for o in out] == [('pillar', '4'), ('ball', '')]
    header = conv.make_header(types, 3 * SEC, 'map')
    msg = conv.objects_to_msg(out, header, conv.VisionTypes(types))
    assert msg.header.frame_id == 'map' and len(msg.detections) == 2
    back = conv.objects_from_msg(msg)
    assert back[0].position == pytest.approx([3.0, 1.0, 0.25]) and back[0].id == '4'
    assert back[0].size == pytest.approx([0.3, 0.3, 0.5])
    assert np.allclose(back[0].covariance, np.eye(3))       # the map covariance


def test_base_objects_exist_before_localisation_with_their_own_covariance(types):
    objects = [MapObject(core_object('box', x=2.0), np.full(3, np.nan), np.eye(3), None),
               MapObject(core_object(), np.array([3.0, 1.0, 0.25]), np.eye(3), 4)]
    out = base_objects(objects)
    assert [(o.class_name, o.id) for o in out] == [('box', ''), ('pillar', '4')]
    msg = conv.objects_to_msg(out, conv.make_header(types, 3 * SEC, 'base_footprint'),
                              conv.VisionTypes(types))
    back = conv.objects_from_msg(msg)
    assert msg.header.frame_id == 'base_footprint'
    assert back[0].position == pytest.approx([2.0, 0.0, 0.25])
    assert np.allclose(back[0].covariance, np.eye(3) * 0.01)


def test_landmarks_become_markers(types):
    landmarks = [Landmark(1, 'pillar', (1.0, 2.0, 0.25), (0.3, 0.3, 0.5), 0.0),
                 Landmark(7, 'traffic_cone', (-1.0, 0.5, 0.2), (0.2, 0.2, 0.4), 1.0)]
    objects = landmark_objects(landmarks)
    assert [o.id for o in objects] == ['1', '7']
    assert objects[1].orientation[2] == pytest.approx(np.sin(0.5))
    msg = conv.objects_to_markers(objects, conv.make_header(types, SEC, 'map'), types)
    assert len(msg.markers) == 1 + 2 * len(landmarks)   # DELETEALL + cylinder + label
    assert msg.markers[3].pose.position.x == pytest.approx(-1.0)
    assert msg.markers[2].text == 'pillar 1'
    assert conv.objects_to_markers([], conv.make_header(types, SEC, 'map'), types).markers


def test_fault_reporter_reports_increases_and_throttles_per_kind():
    reporter = FaultReporter(period_s=5.0)
    assert reporter.new_faults({'missing_tf': 2}) == [('missing_tf', 2, 2)]
    assert reporter.new_faults({'missing_tf': 2}) == []
    assert reporter.new_faults({'missing_tf': 3, 'no_scan': 1}) == \
        [('missing_tf', 1, 3), ('no_scan', 1, 1)]
    assert reporter.should_log('missing_tf', now=100.0)
    assert not reporter.should_log('missing_tf', now=101.0)
    assert reporter.should_log('no_scan', now=101.0)       # another kind is not hidden
    assert reporter.should_log('missing_tf', now=105.5)
    assert 'slam.gate' in fault_message('slam_rejected', 1, 4)
    assert '[weird_kind]' in fault_message('weird_kind', 1, 1)


def odom(ns, x=0.0):
    return PoseStamped(ns, 'odom', np.array([x, 0.0, 0.0]), np.array([0.0, 0.0, 0.0, 1.0]),
                       child_frame_id='base_footprint')


def test_core_driven_as_the_node_does_publishes_pose_after_odom_and_slam():
    pipeline = FusionPipeline(pipeline_config(defaults()))
    t0 = 10 * SEC
    assert pipeline.on_odom(odom(t0)) == []          # not localised yet: no pose
    slam = PoseStamped(t0, 'map', np.array([1.0, 2.0, 0.0]), np.array([0.0, 0.0, 0.0, 1.0]),
                       covariance=np.zeros((6, 6)))
    assert pipeline.on_slam_pose(slam, SLAM_INPUTS['amcl_pose']) == []
    outputs = pipeline.on_odom(odom(t0 + SEC // 10, x=0.05))
    poses = [o for o in outputs if o.kind == 'pose']
    assert len(poses) == 1 and poses[0].stamp_ns == t0 + SEC // 10   # the odometry stamp
    fused = poses[0].data
    assert fused.pose[:2] == pytest.approx([1.05, 2.0], abs=1e-3)
    assert fused.map_to_odom[:2] == pytest.approx([1.0, 2.0], abs=1e-3)
    msg = fused_pose(poses[0].stamp_ns, fused, 'map', 'base_footprint')
    assert np.all(np.linalg.eigvalsh(msg.covariance[np.ix_([0, 1, 5], [0, 1, 5])]) > 0)
    # Detections at an odometry-covered stamp, with the camera mount handed over as the
    # node does (a stamp-independent edge): objects stamped with the image stamp.
    k = np.array([[530.5, 0, 320.5], [0, 530.5, 240.5], [0, 0, 1]])
    pipeline.on_camera_info(CameraInfo(640, 480, k, np.zeros(5), 'plumb_bob',
                                       'camera_rgb_optical_frame'))
    pipeline.on_tf([Transform(0, 'base_footprint', 'camera_rgb_optical_frame',
                              np.array([0.076, 0.0, 0.103]), np.array([-0.5, 0.5, -0.5, 0.5]))],
                   static=True)
    detections = Detections(np.array([[300.0, 200.0, 340.0, 300.0]], np.float32),
                            np.array([0.9], np.float32), np.array([0]), ('pillar',))
    outputs = pipeline.on_detections(t0 + SEC // 20, detections)
    objects = [o for o in outputs if o.kind == 'objects']
    assert len(objects) == 1 and objects[0].stamp_ns == t0 + SEC // 20
    assert 'missing_tf' not in pipeline.faults


def test_depth_waits_by_stamp_for_its_detections_and_old_ones_go():
    store = DepthByStamp(keep=3)
    for stamp in range(5):
        store.put(stamp, np.full((2, 2), float(stamp), np.float32))
    assert store.take(0) is None and store.take(1) is None      # only the newest 3 stay
    assert store.take(3)[0, 0] == 3.0
    assert store.take(3) is None                                # taken once
    assert (store.found, store.missing) == (1, 3)
    store.clear()
    assert store.take(4) is None


def test_the_initial_pose_parameters_start_the_core_where_they_say():
    from ros2_infer.core.pipeline import FusionPipeline
    from ros2_infer.core.sensors import PoseStamped
    values = defaults(**{'slam.input': 'none', 'initial_pose.set': True,
                         'initial_pose.x': 1.5, 'initial_pose.y': -0.5,
                         'initial_pose.yaw': 1.0})
    assert all(p.check(values[p.name]) is None for p in LOCALIZER_PARAMS)
    given = (1.5, -0.5, 1.0)
    assert pipeline_config(values).initial_pose == given
    assert pipeline_config(defaults(**{'initial_pose.x': 1.5})).initial_pose is None
    pipeline = FusionPipeline(pipeline_config(values))

    def odom(t):
        return pipeline.on_odom(PoseStamped(int(t * SEC), 'odom', np.zeros(3),
                                            np.array([0.0, 0.0, 0.0, 1.0])))

    fused = odom(10.0)[-1].data                  # the first odometry message starts it ...
    assert np.allclose(fused.pose, given, atol=1e-6)
    fused = odom(10.1)[-1].data
    assert np.allclose(fused.pose, given, atol=1e-6)
    assert np.isclose(fused.covariance[0, 0], 0.25, rtol=0.05)    # AMCL's / RViz's 0.5 m
    assert pipeline.faults['initial_pose'] == 1
    odom(10.2)
    assert pipeline.faults['initial_pose'] == 1  # ... once
    # the clock jumps back (a simulation reset puts the robot at its start): started again
    odom(2.0)
    assert pipeline.faults['reset'] == 1 and pipeline.faults['initial_pose'] == 2
    assert np.allclose(odom(2.1)[-1].data.pose, given, atol=1e-6)
