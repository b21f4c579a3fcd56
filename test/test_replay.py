"""Replay guards on a short simulated bag: GT stripping, causality, CLI outputs."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from ros2_infer.core.pipeline import FusionPipeline, PipelineConfig
from ros2_infer.replay.runner import replay

SEC = 1_000_000_000


@pytest.fixture(scope='module')
def bag():
    from ros2_infer.training.simdata import simulate_runs
    return simulate_runs([7], duration=40, camera_rate=5, randomize=False,
                         extra=['--width', '320', '--height', '240', '--compressed'])[0]


def _record(bag_path, **kw):
    rows = []

    def on_output(log_ns, out):
        if out.kind == 'pose':
            d = out.data
            rows.append((log_ns, 'pose', out.stamp_ns, d.pose.tobytes(),
                         d.covariance.tobytes()))
        else:
            rows.append((log_ns, out.kind, out.stamp_ns,
                         tuple((o.object.class_name, o.position_map.tobytes(), o.landmark_id)
                               for o in out.data)))

    replay(bag_path, FusionPipeline(PipelineConfig(deskew=False)), on_output=on_output, **kw)
    return rows


def _strip(src: Path, dst: Path) -> None:
    """Copy a bag without /ground_truth/* (the oracle detections stay: they are the input)."""
    from ros2_infer.rosbag.reader import iter_messages
    from ros2_infer.rosbag.writer import BagWriter
    with BagWriter(dst) as out:
        seen = set()
        for m in iter_messages(src, raw=True):
            if m.topic.startswith('/ground_truth/') and m.topic != '/ground_truth/detections':
                continue
            if m.topic not in seen:
                out.add_topic(m.topic, m.msgtype)
                seen.add(m.topic)
            out.write_raw(m.topic, m.msg, m.log_time_ns)


def test_stripping_ground_truth_gives_bit_identical_outputs(bag, tmp_path):
    stripped = tmp_path / 'stripped'
    _strip(bag, stripped)
    full = _record(bag)
    assert len([r for r in full if r[1] == 'pose']) > 500
    assert any(r[1] == 'objects' and any(o[2] is not None for o in r[3]) for r in full)
    assert _record(stripped) == full       # no landmarks.yaml next to it either


def test_a_saved_maps_offset_is_estimated_in_the_next_run(bag, tmp_path):
    from ros2_infer.core.landmark_map import read_landmark_map, save_landmark_map
    mapping = FusionPipeline(PipelineConfig(deskew=False))
    replay(bag, mapping)
    landmarks, offset = mapping.export_map()
    save_landmark_map(tmp_path / 'map.yaml', landmarks, offset_covariance=offset)
    saved = read_landmark_map(tmp_path / 'map.yaml')
    # Shift the whole map by 10 cm: the run's SLAM stream sees that shift.
    shifted = [type(lm)(lm.id, lm.class_name, (lm.position[0] + 0.1, *lm.position[1:]),
                        lm.size, lm.yaw, lm.covariance) for lm in saved.landmarks]
    loc = FusionPipeline(PipelineConfig(deskew=False), known_map=shifted,
                         known_map_offset_covariance=saved.offset_covariance)
    replay(bag, loc)
    assert loc.localizer.has_map_offset
    estimated = loc.localizer.map_offset()
    # landmark - offset = mapped position: a map 10 cm too far in x has an offset near -10 cm
    # (SLAM's own 40-s mean error and the prior's pull toward zero keep it short of that).
    assert -0.13 < estimated[0] < -0.03 and abs(estimated[1]) < 0.05


def test_a_depth_model_places_the_objects_the_scan_misses(bag):
    from collections import Counter

    from ros2_infer.models import bundled_spec

    def sources(depth_spec):
        counts = Counter()

        def on_output(_log_ns, out):
            if out.kind == 'objects':
                counts.update(o.object.source for o in out.data)

        replay(bag, FusionPipeline(PipelineConfig(deskew=False)), on_output=on_output,
               depth_spec=depth_spec)
        return counts

    without, with_depth = sources(None), sources(str(bundled_spec('tinydepth')))
    # Every camera-only (floor) estimate is now a depth one; the lidar's are untouched.
    assert without['floor'] >= 10 and without['depth'] == 0
    assert with_depth['depth'] == without['floor'] and with_depth['floor'] == 0
    assert with_depth['lidar'] == without['lidar'] > 100


def test_outputs_before_a_cut_do_not_depend_on_the_future(bag):
    cut = 25 * SEC
    full = [r for r in _record(bag) if r[0] < cut]
    assert _record(bag, stop_ns=cut) == full


def test_cli_writes_bag_metrics_and_plots(bag, tmp_path):
    from ros2_infer.cli import replay as cli
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = tmp_path / 'out'
    args = parser.parse_args([str(bag), '--out', str(out), '--detections', 'ground-truth',
                              '--save-map', str(out / 'map.yaml'), '--no-deskew'])
    assert cli.run(args) == 0
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['detections'].startswith('ground-truth')
    for stream in ('odometry', 'slam', 'slam_plus_odometry', 'fusion'):
        assert metrics[stream]['ate_rmse_m'] is not None
    assert metrics['fusion']['ate_rmse_m'] < 0.15
    reference = metrics['slam_running_mean']
    assert 0.0 < reference['run_mean_m'] < reference['ate_rmse_m'] < 0.15
    assert (out / 'trajectory.png').stat().st_size > 0 and (out / 'error.png').is_file()
    assert (out / 'map.yaml').is_file() and (out / 'bag' / 'metadata.yaml').is_file()
    # The saved map says how uncertain it is: a shared offset (the run's mean SLAM error, of
    # the order of the SLAM bias) and each landmark's own, smaller, part.
    from ros2_infer.core.landmark_map import read_landmark_map
    saved = read_landmark_map(out / 'map.yaml')
    assert len(saved.landmarks) >= 3 and saved.offset_covariance is not None
    assert 0.005 < np.sqrt(saved.offset_covariance[0]) < 0.06
    own = [np.sqrt(lm.covariance[0]) for lm in saved.landmarks]
    assert max(own) < np.sqrt(saved.offset_covariance[0])
    from ros2_infer.rosbag.reader import topic_types
    topics = topic_types(out / 'bag')
    assert topics['/fusion/pose'] == 'geometry_msgs/msg/PoseWithCovarianceStamped'
    assert topics['/fusion/objects'] == 'vision_msgs/msg/Detection3DArray'
    assert topics['/fusion/objects_base'] == 'vision_msgs/msg/Detection3DArray'
    # the 2D detections that went into the pipeline, each stamped with its image
    from ros2_infer.conversions.vision import detections_from_msg
    from ros2_infer.rosbag.reader import iter_messages
    assert topics['/detections'] == 'vision_msgs/msg/Detection2DArray'
    images = {item.msg.header.stamp.sec * 10 ** 9 + item.msg.header.stamp.nanosec
              for item in iter_messages(bag, ['/ground_truth/detections'])}
    written = [item.msg for item in iter_messages(out / 'bag', ['/detections'])]
    stamps = {m.header.stamp.sec * 10 ** 9 + m.header.stamp.nanosec for m in written}
    assert len(written) == len(images) and stamps == images
    assert sum(len(detections_from_msg(m)) for m in written) > 20
    assert np.isfinite(metrics['cost_ms']['p99'])


def _evo_trajectory(stamps_ns, poses):
    """Return a planar (x, y, yaw) track as evo's PoseTrajectory3D."""
    from evo.core.trajectory import PoseTrajectory3D

    poses = np.asarray(poses, float)
    half = poses[:, 2] / 2.0
    quat_wxyz = np.column_stack([np.cos(half), np.zeros_like(half), np.zeros_like(half),
                                 np.sin(half)])
    xyz = np.column_stack([poses[:, 0], poses[:, 1], np.zeros(len(poses))])
    return PoseTrajectory3D(positions_xyz=xyz, orientations_quat_wxyz=quat_wxyz,
                            timestamps=np.asarray(stamps_ns, float) / 1e9)


def _evo_rmse(reference, estimate, relation):
    from evo.core import metrics as evo_metrics

    ape = evo_metrics.APE(relation)
    ape.process_data((reference, estimate))
    return ape.get_statistic(evo_metrics.StatisticsType.rmse)


def test_the_ate_is_evos_unaligned_ape(bag):
    """The published-online ATE and yaw RMSE agree with evo's ``evo_ape`` (no ``-a``)."""
    pytest.importorskip('evo')
    from evo.core import sync
    from evo.core.metrics import PoseRelation

    from ros2_infer.replay import metrics as M

    gt, _ = M.ground_truth(bag)
    streams = replay(bag, FusionPipeline(PipelineConfig(deskew=False)))
    reference = _evo_trajectory(gt.stamps, gt.poses)
    for name, least in (('fused', 500), ('slam', 20)):
        rows = [r for r in getattr(streams, name) if gt.at(r[0]) is not None]
        ours = M.ate(rows, gt)
        assert ours['n'] == len(rows) >= least, name
        stamps = [r[0] for r in rows]
        estimate = _evo_trajectory(stamps, [r[1:4] for r in rows])
        # The error definition: evo on the ground truth interpolated at the stream's own
        # stamps (ours) gives the same numbers to rounding.
        truth_at = _evo_trajectory(stamps, [gt.at(t) for t in stamps])
        assert _evo_rmse(truth_at, estimate, PoseRelation.translation_part) == \
            pytest.approx(ours['ate_rmse_m'], rel=1e-9), name
        assert _evo_rmse(truth_at, estimate, PoseRelation.rotation_angle_deg) == \
            pytest.approx(ours['yaw_rmse_deg'], rel=1e-6), name
        # The association: evo's own, the nearest 50 Hz ground-truth sample within 10 ms,
        # differs from interpolation by at most 10 ms of motion (2 mm at 0.22 m/s).
        ref, est = sync.associate_trajectories(reference, estimate, max_diff=0.01)
        assert est.num_poses >= 0.95 * len(rows), name
        assert _evo_rmse(ref, est, PoseRelation.translation_part) == \
            pytest.approx(ours['ate_rmse_m'], abs=0.002), name


def test_the_slam_running_mean_is_what_slam_alone_leaves():
    from ros2_infer.core.geometry import PoseHistory
    from ros2_infer.replay import metrics as M

    sec = 1_000_000_000
    gt = PoseHistory(max_age_ns=100 * sec)
    for k in range(101):                    # 0.1 m/s along x for 10 s
        gt.add(k * sec // 10, (0.01 * k, 0.0, 0.0))
    # A constant SLAM bias is left in full, however many poses were averaged.
    slam = [(t * sec, 0.1 * t + 0.03, -0.04, 0.0) for t in range(1, 9)]
    fused = [(t * sec // 4, 0.0, 0.0, 0.0) for t in range(1, 40)]
    ref = M.slam_running_mean(slam, fused, gt)
    assert ref['ate_rmse_m'] == pytest.approx(0.05) and ref['run_mean_m'] == pytest.approx(0.05)
    # Errors that cancel are averaged away as they come: +d until the second pose, then 0.
    slam = [(1 * sec, 0.1 + 0.02, 0.0, 0.0), (2 * sec, 0.2 - 0.02, 0.0, 0.0)]
    fused = [(sec // 2, 0.0, 0.0, 0.0), (3 * sec // 2, 0.0, 0.0, 0.0),
             (5 * sec // 2, 0.0, 0.0, 0.0)]
    ref = M.slam_running_mean(slam, fused, gt)
    # the stamp before any SLAM pose has no reference; 1.5 s: +2 cm; 2.5 s: 0
    assert ref['ate_rmse_m'] == pytest.approx(0.02 / np.sqrt(2))
    # from 2 s on only the 2.5 s stamp counts, but both SLAM poses still do
    assert M.slam_running_mean(slam, fused, gt, 2 * sec)['ate_rmse_m'] == pytest.approx(0.0)
    assert ref['run_mean_m'] == pytest.approx(0.0, abs=1e-12)


def test_cartographers_map_to_odom_alone_is_a_slam_input():
    """Cartographer style: no pose topic, the SLAM estimate is TF map->odom (200 Hz)."""
    from ros2_infer.replay import metrics as M
    from ros2_infer.rosbag.reader import topic_types
    from ros2_infer.training.simdata import simulate_runs

    bag = simulate_runs([7], duration=40, camera_rate=5, randomize=False,
                        extra=['--width', '320', '--height', '240', '--compressed',
                               '--slam-style', 'cartographer'])[0]
    assert not {'/amcl_pose', '/pose'} & set(topic_types(bag))
    pipe = FusionPipeline(PipelineConfig(deskew=False))
    streams = replay(bag, pipe)
    gt, _ = M.ground_truth(bag)
    # 200 Hz for 40 s, one per 0.2 s fused (slam_tf_min_period_ns), the others skipped
    accepted = pipe.localizer.stats['slam_accepted']
    assert 190 <= accepted <= 200 and accepted + pipe.slam_tf_thinned >= 7900
    slam, fused = M.ate(streams.slam, gt), M.ate(streams.fused, gt)
    assert slam['n'] > 7000 and fused['n'] > 1000
    # 40 s is too short to average much of SLAM's correlated error away (8.6 vs 9.8 cm), but
    # its jumps are not followed (max 10.2 vs 14.9 cm)
    assert fused['ate_rmse_m'] < 0.92 * slam['ate_rmse_m']
    assert fused['max_m'] < 0.75 * slam['max_m']
    assert fused['yaw_rmse_deg'] < slam['yaw_rmse_deg']


def test_without_slam_a_saved_map_and_an_initial_pose_localise(bag, tmp_path):
    from ros2_infer.cli import replay as cli
    from ros2_infer.core.errors import InputError
    from ros2_infer.replay import metrics as M
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    common = ['--detections', 'ground-truth', '--no-deskew', '--no-bag', '--no-plots']
    assert cli.run(parser.parse_args([str(bag), '--out', str(tmp_path / 'map')] + common + [
        '--save-map', str(tmp_path / 'map.yaml')])) == 0
    # no SLAM and no start: one clear line
    with pytest.raises(InputError, match='--slam-style none needs a start'):
        cli.run(parser.parse_args([str(bag), '--out', str(tmp_path / 'x'), '--slam-style',
                                   'none'] + common))
    # the user's start, 30 cm and 5 degrees off the truth (what a click in RViz gives)
    gt, _ = M.ground_truth(bag)
    x, y, yaw = gt.at(gt.stamps[0])
    out = tmp_path / 'loc'
    assert cli.run(parser.parse_args(
        [str(bag), '--out', str(out), '--slam-style', 'none', '--known-map',
         str(tmp_path / 'map.yaml'), '--initial-pose', str(x + 0.3), str(y),
         str(yaw + np.radians(5))] + common)) == 0
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['stats']['localizer']['slam_accepted'] == 0
    assert metrics['stats']['faults']['initial_pose'] == 1
    # the landmarks pull the 30 cm start in and hold the pose in the map's frame (which has
    # the mapping run's SLAM offset, 8 cm on this short bag): better than SLAM alone and than
    # the mapping run itself
    mapping = json.loads((tmp_path / 'map' / 'metrics.json').read_text())
    assert metrics['fusion']['ate_rmse_m'] < mapping['fusion']['ate_rmse_m']
    assert metrics['fusion']['ate_rmse_m'] < 0.9 * metrics['slam']['ate_rmse_m']
    assert metrics['fusion']['yaw_rmse_deg'] < 0.6
