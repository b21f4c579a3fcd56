"""Pipeline faults never crash: they are counted; core imports neither sim nor rclpy."""

from pathlib import Path
import re
import subprocess
import sys

import numpy as np

from ros2_infer.core.detections import Detections
from ros2_infer.core.geometry import yaw_to_quat
from ros2_infer.core.pipeline import FusionPipeline
from ros2_infer.core.sensors import CameraInfo, LaserScan, PoseStamped, Transform

SEC = 1_000_000_000


def _odom(t, x):
    return PoseStamped(int(t), 'odom', np.array([x, 0.0, 0.0]), yaw_to_quat(0.0),
                       child_frame_id='base_footprint')


def _slam(t, x):
    cov = np.zeros((6, 6))          # AMCL-style zeros
    return PoseStamped(int(t), 'map', np.array([x - 2.0, -0.5, 0.0]), yaw_to_quat(0.0), cov)


def test_faults_are_counted_not_raised():
    p = FusionPipeline()
    assert p.on_odom(_odom(0, 0.0)) == []                       # not initialised yet
    p.on_slam_pose(_slam(0, 0.0))
    outs = p.on_odom(_odom(0.1 * SEC, 0.02))
    assert outs and outs[-1].kind == 'pose'
    assert np.allclose(outs[-1].data.pose[:2], (-1.98, -0.5), atol=1e-6)
    # NaN scan, detections without camera info / TF, bad odometry
    p.on_scan(LaserScan(int(0.1 * SEC), 'base_scan', 0.0, 0.017493, 0.0, 0.2, 0.12, 3.5,
                        np.full(360, np.nan, np.float32)))
    p.on_detections(int(0.05 * SEC), Detections.empty(['pillar']))
    p.on_odom(PoseStamped(int(0.2 * SEC), 'odom', np.array([np.nan, 0, 0]),
                          yaw_to_quat(0.0)))
    p.on_camera_info(CameraInfo(640, 480, np.eye(3) * 500, np.zeros(5)))
    p.on_detections(int(0.15 * SEC), Detections.empty(['pillar']))
    p.on_odom(_odom(0.2 * SEC, 0.04))
    p.on_tf([Transform(0, 'base_link', 'x', np.array([np.inf, 0, 0]), yaw_to_quat(0))])
    for kind in ('empty_scan', 'no_camera_info', 'bad_odom', 'missing_tf', 'bad_tf'):
        assert p.faults.get(kind, 0) >= 1, kind
    # time jumps backwards (bag loop / sim restart): reset, then runs again
    p.on_odom(_odom(2.5 * SEC, 0.1))
    p.on_odom(_odom(0.0, 0.0))
    assert p.faults['reset'] == 1 and not p.localizer.initialized
    p.on_slam_pose(_slam(0.05 * SEC, 0.0))
    assert p.on_odom(_odom(0.1 * SEC, 0.0))[-1].kind == 'pose'


def test_late_slam_waits_for_odometry_and_is_deduplicated():
    p = FusionPipeline()
    p.on_slam_pose(_slam(0.5 * SEC, 0.0))               # arrives before odometry covers it
    assert not p.localizer.initialized and len(p.pending) == 1
    p.on_odom(_odom(0.4 * SEC, 0.0))
    assert not p.localizer.initialized
    p.on_odom(_odom(0.6 * SEC, 0.0))
    assert p.localizer.initialized
    # the same estimate as TF map->odom at the same stamp is not fused twice
    p.on_tf([Transform(int(0.5 * SEC), 'map', 'odom', np.array([-2.0, -0.5, 0.0]),
                       yaw_to_quat(0.0))])
    p.on_odom(_odom(0.7 * SEC, 0.0))
    assert p.localizer.stats['slam_accepted'] == 0


def test_core_imports_neither_sim_nor_rclpy():
    core = Path(__file__).resolve().parents[1] / 'ros2_infer' / 'core'
    pattern = re.compile(r'^\s*(from|import)\s+(ros2_infer\.sim|rclpy)\b', re.MULTILINE)
    for path in core.rglob('*.py'):
        assert not pattern.search(path.read_text()), path
    code = ('import sys, ros2_infer.core.pipeline, ros2_infer.core.objects; '
            'print(any(m.startswith(("ros2_infer.sim", "rclpy")) for m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=core.parents[1], check=True)
    assert out.stdout.strip() == 'False'


def _slanted_wall_rig():
    """Return a stationary robot's pipeline before the wall x = 2 + 0.5 y, depths, a ball."""
    fx, cx = 530.5, 320.5
    p = FusionPipeline()
    optical = Transform(0, 'base_footprint', 'camera_rgb_optical_frame',
                        np.array([0.076, 0.0, 0.103]), np.array([-0.5, 0.5, -0.5, 0.5]))
    lidar = Transform(0, 'base_footprint', 'base_scan', np.array([-0.064, 0.0, 0.122]),
                      yaw_to_quat(0.0))
    p.on_tf([optical, lidar], static=True)
    p.on_camera_info(CameraInfo(640, 480, np.array([[fx, 0, cx], [0, fx, 240.5], [0, 0, 1]]),
                                np.zeros(5), frame_id='camera_rgb_optical_frame'))
    p.on_odom(_odom(0, 0.0))
    p.on_slam_pose(_slam(0, 0.0))
    angles = np.arange(360) * 0.017493
    towards = np.cos(angles) - 0.5 * np.sin(angles)
    with np.errstate(divide='ignore'):
        ranges = np.where(towards > 0.3, 2.064 / towards, 0.0)
    ranges[ranges > 3.5] = 0.0
    p.on_scan(LaserScan(int(0.1 * SEC), 'base_scan', 0.0, 0.017493, 0.0, 0.2, 0.12, 3.5,
                        ranges.astype(np.float32)))
    # Optical z-depth of the wall in column u; a relative model's 1/z = 2 r + 0.1.
    xn = (np.arange(640) - cx) / fx
    z = np.tile(1.924 / (1.0 + 0.5 * xn), (480, 1)).astype(np.float32)
    relative = ((1.0 / z - 0.1) / 2.0).astype(np.float32)
    ball = Detections(np.array([[300.0, 250.0, 340.0, 300.0]], np.float32),
                      np.array([0.9], np.float32), np.array([0]), ('ball',))
    return p, z, relative, ball


def _ball(pipeline, stamp_ns, *depth):
    pipeline.on_detections(stamp_ns, *depth)
    outs = pipeline.on_odom(_odom(stamp_ns + int(0.1 * SEC), 0.0))
    (objects,) = [o for o in outs if o.kind == 'objects']
    return objects.data[0].object


def test_objects_below_the_scan_take_a_relative_depth_fitted_to_the_scan():
    p, metric, relative, ball = _slanted_wall_rig()
    # The ball's box shows the wall 1.87-1.96 m away (its near quarter ~1.91 m) + its radius.
    fitted = _ball(p, int(0.1 * SEC), ball, relative, True)
    assert fitted.source == 'depth'
    assert 2.02 < fitted.position[0] < 2.08 and abs(fitted.position[1]) < 0.05
    as_metric = _ball(p, int(0.3 * SEC), ball, metric)
    assert as_metric.source == 'depth'
    assert np.allclose(as_metric.position[:2], fitted.position[:2], atol=0.01)
    # Unfitted, the relative numbers (about 0.2) would have put it 5 m away.
    assert 'depth_fit' not in p.faults and 'depth_size' not in p.faults


def test_unusable_depth_is_a_fault_and_the_floor_takes_over():
    p, metric, relative, ball = _slanted_wall_rig()
    wrong_size = _ball(p, int(0.1 * SEC), ball, metric[::2, ::2])
    assert wrong_size.source == 'floor' and p.faults['depth_size'] == 1
    blank = np.full_like(relative, np.nan)
    unfitted = _ball(p, int(0.3 * SEC), ball, blank, True)
    assert unfitted.source == 'floor' and p.faults['depth_fit'] == 1


def _carto_run(config):
    """Two seconds of odometry at 50 Hz with map->odom on /tf at 200 Hz (Cartographer)."""
    p = FusionPipeline(config)
    for k in range(401):
        t = k * SEC // 200
        p.on_tf([Transform(t, 'map', 'odom', np.array([-2.0, -0.5, 0.0]), yaw_to_quat(0.0))])
        if k % 4 == 0:
            p.on_odom(_odom(t, 0.1 * t / SEC))
    return p


def test_a_200_hz_map_to_odom_is_thinned_to_the_scan_rate():
    from ros2_infer.core.pipeline import PipelineConfig

    p = _carto_run(PipelineConfig())
    accepted = p.localizer.stats['slam_accepted']
    # one transform per 0.2 s over 2 s (the first initialises the graph): not 400 keyframes
    assert 9 <= accepted <= 11 and p.slam_tf_thinned == 400 - accepted
    assert p.localizer.stats['keyframes'] <= 12
    # a late transform of a period already fused adds nothing
    late = p.localizer.stats['slam_accepted']
    p.on_tf([Transform(SEC // 2 + 1, 'map', 'odom', np.array([-2.0, -0.5, 0.0]),
                       yaw_to_quat(0.0))])
    p.on_odom(_odom(2.05 * SEC, 0.205))
    assert p.localizer.stats['slam_accepted'] == late and p.slam_tf_thinned == 401 - accepted
    every = _carto_run(PipelineConfig(slam_tf_min_period_ns=0))
    assert every.localizer.stats['slam_accepted'] > 300 and every.slam_tf_thinned == 0


def _slam_cov(t, x, y, sigma):
    cov = np.zeros((6, 6))
    cov[0, 0] = cov[1, 1] = sigma ** 2
    cov[5, 5] = 0.05 ** 2
    return PoseStamped(int(t), 'map', np.array([x, y, 0.0]), yaw_to_quat(0.0), cov)


def _converging(first_sigma):
    """AMCL from a rough initial pose: 1 m off for 5 s (σ ``first_sigma``), then right."""
    p = FusionPipeline()
    for k in range(101):
        t = k * SEC // 10
        x = 0.02 * k
        p.on_odom(_odom(t, x))
        if k % 5 == 0:
            off = 1.0 if k < 50 else 0.0
            p.on_slam_pose(_slam_cov(t, x - 2.0 + off, -0.5, first_sigma if k < 50 else 0.03))
    return p, p.on_odom(_odom(10.1 * SEC, 2.02))[-1].data.pose


def test_an_unconverged_slam_stream_that_converges_is_followed_at_once():
    p, pose = _converging(0.5)
    # the first converged pose is rejected by the gate, and believed: no landmark refutes it
    assert p.faults.get('slam_converged') == 1 and p.faults.get('slam_rejected') == 1
    assert np.allclose(pose[:2], (0.02, -0.5), atol=0.05)
    # the same 1 m jump from poses that were precise all along is a SLAM glitch: held off
    p, pose = _converging(0.03)
    assert 'slam_converged' not in p.faults and p.faults.get('slam_rejected', 0) >= 5
    assert abs(pose[0] - 1.02) < 0.1


def _initial_pose(t, x, y, yaw=0.0, frame='map', cov=None):
    if cov is None:                 # RViz's 2D Pose Estimate
        cov = np.zeros((6, 6))
        cov[0, 0] = cov[1, 1] = 0.25
        cov[5, 5] = 0.06853891945200942
    return PoseStamped(int(t), frame, np.array([x, y, 0.0]), yaw_to_quat(yaw), cov)


def _driving(p, t0, t1, slam_offset=(-2.0, -0.5)):
    """Drive at 0.2 m/s from ``t0`` to ``t1`` s (odometry 10 Hz, SLAM 2 Hz); last output."""
    out = None
    for k in range(int(round(t0 * 10)), int(round(t1 * 10)) + 1):
        t, x = k * SEC // 10, 0.02 * k
        outs = p.on_odom(_odom(t, x))
        out = outs[-1].data if outs and outs[-1].kind == 'pose' else out
        if k % 5 == 0:
            p.on_slam_pose(_slam_cov(t, x + slam_offset[0], slam_offset[1], 0.03))
    return out


def test_an_initial_pose_starts_the_estimate_again_at_its_stamp():
    p = FusionPipeline()
    assert p.on_initial_pose(_initial_pose(0, 1.0, 1.0)) == []
    assert p.faults['initial_pose_early'] == 1               # no odometry yet: ignored
    assert np.allclose(_driving(p, 0.0, 2.0).pose[:2], (0.4 - 2.0, -0.5), atol=0.02)
    # RViz's pose for the stamp 1 s ago: the robot has driven 0.2 m since, as AMCL integrates
    p.on_initial_pose(_initial_pose(1.0 * SEC, 5.0, 1.0, yaw=0.0))
    fused = p.on_odom(_odom(2.1 * SEC, 0.42))[-1].data
    assert p.faults['initial_pose'] == 1
    assert np.allclose(fused.pose, (5.0 + 0.22, 1.0, 0.0), atol=0.01)
    # its covariance, not SLAM's: 0.5 m
    assert 0.2 < fused.covariance[0, 0] < 0.3
    # a SLAM stream that stays 7 m away with nothing else to judge by is gated off
    fused = _driving(p, 2.2, 7.0)
    assert np.allclose(fused.pose[:2], (5.0 + 1.2, 1.0), atol=0.05)
    assert p.faults['slam_rejected'] >= 9 and 'relocalized' not in p.faults
    # AMCL, given the same pose, agrees: its poses are fused again and tighten the estimate
    fused = _driving(p, 7.1, 12.0, slam_offset=(5.0 - 0.02, 1.0))
    assert np.allclose(fused.pose[:2], (5.0 + 2.4 - 0.02, 1.0), atol=0.03)
    assert fused.covariance[0, 0] < 0.01


def test_a_bad_initial_pose_is_a_fault_and_changes_nothing():
    p = FusionPipeline()
    _driving(p, 0.0, 2.0)
    before = p.on_odom(_odom(2.05 * SEC, 0.41))[-1].data.pose
    p.on_initial_pose(_initial_pose(2.0 * SEC, 5.0, 1.0, frame='odom'))
    p.on_initial_pose(_initial_pose(2.0 * SEC, np.nan, 1.0))
    after = p.on_odom(_odom(2.06 * SEC, 0.412))[-1].data.pose
    assert p.faults['initial_pose_frame'] == 1 and p.faults['bad_initial_pose'] == 1
    assert 'initial_pose' not in p.faults
    assert np.allclose(after[:2], before[:2] + (0.002, 0.0), atol=1e-3)
    # a wall-clock stamp against sim time: taken as now, and said so
    p.on_initial_pose(_initial_pose(1_700_000_000 * SEC, 5.0, 1.0))
    assert p.faults['initial_pose_stamp'] == 1 and p.faults['initial_pose'] == 1
    assert np.allclose(p.on_odom(_odom(2.16 * SEC, 0.432))[-1].data.pose[:2], (5.02, 1.0),
                       atol=0.01)
