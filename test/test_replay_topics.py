"""Reading a robot's own bag: remaps, a namespace, frame names, no ground truth."""

import argparse
import json

import numpy as np
import pytest

from ros2_infer.core.errors import InputError
from ros2_infer.replay.topics import missing_inputs, parse_remaps, topic_renames, unused_rules

TB3_TOPICS = ['/odom', '/scan', '/tf', '/tf_static', '/camera/image_raw', '/camera/camera_info',
              '/amcl_pose']


def test_remaps_use_ros2_bag_plays_syntax():
    expected = {'/tb3/odom': '/odom', '/scan_raw': '/scan'}
    assert parse_remaps(['/tb3/odom:=/odom', 'scan_raw:=scan']) == expected
    for bad in ('/odom=/x', '/odom:=', ':=/odom', '/a b:=/odom'):
        with pytest.raises(InputError, match='remap'):
            parse_remaps([bad])
    with pytest.raises(InputError, match='already remapped'):
        parse_remaps(['/a:=/odom', '/a:=/scan'])
    # the evaluator's ground truth can never be made an input
    with pytest.raises(InputError, match='ground_truth'):
        parse_remaps(['/ground_truth/pose:=/odom'])


def test_a_namespace_reads_the_robots_topics_and_leaves_out_what_they_replace():
    recorded = ['/tb3_0' + t for t in TB3_TOPICS] + ['/odom', '/tb3_1/odom', '/clock']
    renames = topic_renames(recorded, namespace='tb3_0/')
    assert renames['/tb3_0/odom'] == '/odom' and renames['/tb3_0/tf'] == '/tf'
    assert renames['/tb3_0/camera/image_raw'] == '/camera/image_raw'
    assert renames['/odom'] is None                 # another robot's, replaced
    assert '/tb3_1/odom' not in renames and '/clock' not in renames
    # an explicit remap wins over the namespace
    both = topic_renames(recorded, {'/tb3_0/odom': '/wheel_odom', '/tb3_1/odom': '/odom'},
                         '/tb3_0')
    assert both['/tb3_0/odom'] == '/wheel_odom' and both['/tb3_1/odom'] == '/odom'
    assert both['/odom'] is None
    # a rule that names nothing in the bag is a typo worth a line
    assert unused_rules(recorded, {'/tb3_0/odom': '/odom'}, '/tb3_0') == []
    assert unused_rules(recorded, {'/tb3_O/odom': '/odom'}, '/tb3') == [
        'remap /tb3_O/odom:=/odom: the bag has no /tb3_O/odom',
        'namespace /tb3: no topic of the bag is under /tb3/']


def test_missing_inputs_name_what_is_missing_and_how_to_fix_it():
    errors, warnings = missing_inputs(TB3_TOPICS, {})
    assert errors == [] and warnings == []
    recorded = ['/tb3_0' + t for t in TB3_TOPICS]
    errors, warnings = missing_inputs(recorded, {})
    assert len(errors) == 1 and '/odom' in errors[0] and '--namespace' in errors[0]
    assert '/tb3_0/odom' in errors[0]
    assert any('SLAM' in w for w in warnings) and any('scan' in w for w in warnings)
    assert missing_inputs(recorded, topic_renames(recorded, namespace='/tb3_0')) == ([], [])
    # without SLAM (--slam-style none) a bag without a SLAM input lacks nothing
    assert missing_inputs([t for t in TB3_TOPICS if t not in ('/amcl_pose', '/tf')], {},
                          slam=False) == ([], [])
    # odometry and a SLAM pose only: it runs, and says what it goes without
    errors, warnings = missing_inputs(['/odom', '/amcl_pose'], {})
    assert errors == [] and len(warnings) == 4


# ---- on a simulated bag, rewritten as a namespaced robot with its own frame names -----------

FRAMES = {'map': 'tb3_0/map', 'odom': 'tb3_0/odom', 'base_footprint': 'tb3_0/base_footprint'}


def _rename_frames(msg):
    """Rename the frames of FRAMES in every header and child_frame_id of ``msg`` (in place)."""
    if hasattr(msg, 'transforms'):
        for t in msg.transforms:
            _rename_frames(t)
    header = getattr(msg, 'header', None)
    if header is not None:
        header.frame_id = FRAMES.get(header.frame_id, header.frame_id)
    if hasattr(msg, 'child_frame_id'):
        msg.child_frame_id = FRAMES.get(msg.child_frame_id, msg.child_frame_id)
    return msg


def _as_robot(src, dst, namespace='/tb3_0', frames=True, ground_truth=False):
    """Copy a simulated bag under ``namespace``, with FRAMES, without /ground_truth/*."""
    from ros2_infer.rosbag.reader import iter_messages
    from ros2_infer.rosbag.typestore import get_typestore
    from ros2_infer.rosbag.writer import BagWriter
    store = get_typestore()
    with BagWriter(dst) as out:
        seen = set()
        for m in iter_messages(src, raw=True):
            if m.topic.startswith('/ground_truth/') and not ground_truth:
                continue
            topic = m.topic if m.topic.startswith('/ground_truth/') else namespace + m.topic
            data = m.msg
            if frames and m.topic in ('/tf', '/tf_static', '/odom', '/amcl_pose'):
                msg = _rename_frames(store.deserialize_cdr(bytes(data), m.msgtype))
                data = store.serialize_cdr(msg, m.msgtype)
            if topic not in seen:
                out.add_topic(topic, m.msgtype)
                seen.add(topic)
            out.write_raw(topic, data, m.log_time_ns)


@pytest.fixture(scope='module')
def bag():
    from ros2_infer.training.simdata import simulate_runs
    return simulate_runs([7], duration=40, camera_rate=5, randomize=False,
                         extra=['--width', '320', '--height', '240', '--compressed'])[0]


def _poses(bag_path, renames=None, **frames):
    from ros2_infer.core.pipeline import FusionPipeline, PipelineConfig
    from ros2_infer.models import bundled_spec
    from ros2_infer.replay.runner import replay
    pipeline = FusionPipeline(PipelineConfig(deskew=False, **frames))
    streams = replay(bag_path, pipeline, detections='model',
                     model_spec=str(bundled_spec('tinydet')), renames=renames)
    return streams.fused, streams.slam, streams.slam_odom, len(pipeline.landmarks())


def test_a_namespaced_robot_with_its_own_frames_replays_as_the_original(bag, tmp_path):
    robot = tmp_path / 'robot'
    _as_robot(bag, robot)
    from ros2_infer.rosbag.reader import topic_types
    renames = topic_renames(topic_types(robot), namespace='/tb3_0')
    original = _poses(bag)
    assert len(original[0]) > 500 and original[3] >= 3
    assert _poses(robot, renames, map_frame='tb3_0/map', odom_frame='tb3_0/odom',
                  base_frame='tb3_0/base_footprint') == original
    # the same bag read with the default names: no odometry topic, nothing is fused
    assert _poses(robot)[0] == []


def test_the_cli_replays_a_robots_bag_without_ground_truth(bag, tmp_path, capsys):
    from ros2_infer.cli import replay as cli
    from ros2_infer.rosbag.reader import topic_types
    robot = tmp_path / 'robot'
    _as_robot(bag, robot)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = tmp_path / 'out'
    args = parser.parse_args([str(robot), '--out', str(out), '--no-deskew', '--namespace',
                              '/tb3_0', '--map-frame', 'tb3_0/map', '--odom-frame',
                              'tb3_0/odom', '--base-frame', 'tb3_0/base_footprint'])
    assert cli.run(args) == 0
    printed = capsys.readouterr().out
    assert 'reading /tb3_0/odom as /odom' in printed and 'no ground truth' in printed
    metrics = json.loads((out / 'metrics.json').read_text())
    assert 'fusion' not in metrics and 'ground_truth' in metrics
    assert metrics['outputs']['fused_poses'] > 500 and metrics['outputs']['landmarks'] >= 3
    assert metrics['cost_ms']['events'] > 1000
    assert (out / 'trajectory.png').is_file() and not (out / 'error.png').exists()
    from ros2_infer.rosbag.reader import iter_messages
    m2o = next(iter_messages(out / 'bag', ['/fusion/map_to_odom'])).msg
    assert (m2o.header.frame_id, m2o.child_frame_id) == ('tb3_0/map', 'tb3_0/odom')
    pose = next(iter_messages(out / 'bag', ['/fusion/pose'])).msg
    assert pose.header.frame_id == 'tb3_0/map'
    assert '/fusion/pose' in topic_types(out / 'bag')
    # without the namespace: one clear error naming the bag's topics, no output
    args = parser.parse_args([str(robot), '--out', str(tmp_path / 'out2')])
    with pytest.raises(InputError, match='no odometry.*/tb3_0/odom.*--namespace'):
        cli.run(args)
    assert not (tmp_path / 'out2').exists()
    # a mistyped namespace: the warning that explains it comes with the error
    args = parser.parse_args([str(robot), '--out', str(tmp_path / 'out3'), '--namespace',
                              '/tb3_O'])
    with pytest.raises(InputError, match='no odometry'):
        cli.run(args)
    assert 'namespace /tb3_O: no topic of the bag is under /tb3_O/' in capsys.readouterr().err


def test_a_recorded_initial_pose_restarts_the_replay_there(bag, tmp_path):
    from ros2_infer.core.geometry import yaw_to_quat
    from ros2_infer.core.pipeline import FusionPipeline, PipelineConfig
    from ros2_infer.replay.runner import replay
    from ros2_infer.rosbag.reader import iter_messages
    from ros2_infer.rosbag.typestore import get_typestore
    from ros2_infer.rosbag.writer import BagWriter
    t = get_typestore().types
    given = (1.0, -1.5, 0.3)           # where the user says the robot is, 20 s in
    stamp = 20 * 10 ** 9
    header = t['std_msgs/msg/Header'](stamp=t['builtin_interfaces/msg/Time'](sec=20, nanosec=0),
                                      frame_id='map')
    q = yaw_to_quat(given[2])
    cov = np.zeros(36)
    cov[0] = cov[7] = 0.25
    cov[35] = 0.0685
    msg = t['geometry_msgs/msg/PoseWithCovarianceStamped'](
        header=header, pose=t['geometry_msgs/msg/PoseWithCovariance'](
            pose=t['geometry_msgs/msg/Pose'](
                position=t['geometry_msgs/msg/Point'](x=given[0], y=given[1], z=0.0),
                orientation=t['geometry_msgs/msg/Quaternion'](x=q[0], y=q[1], z=q[2], w=q[3])),
            covariance=cov))
    with_pose = tmp_path / 'with_pose'
    with BagWriter(with_pose) as out:
        seen = set()
        for m in iter_messages(bag, raw=True):
            if m.topic not in seen:
                out.add_topic(m.topic, m.msgtype)
                seen.add(m.topic)
            if m.log_time_ns >= stamp + 10 ** 8 and '/initialpose' not in seen:
                out.add_topic('/initialpose', 'geometry_msgs/msg/PoseWithCovarianceStamped')
                seen.add('/initialpose')
                out.write('/initialpose', msg, m.log_time_ns)
            out.write_raw(m.topic, m.msg, m.log_time_ns)
    pipeline = FusionPipeline(PipelineConfig(deskew=False))
    streams = replay(with_pose, pipeline, detections='ground-truth')
    assert pipeline.faults['initial_pose'] == 1
    from ros2_infer.core.geometry import PoseHistory, se2_between, se2_compose
    odom = PoseHistory(max_age_ns=10 ** 15)
    for row in streams.odom:
        odom.add(row[0], np.array(row[1:4]))
    # the first pose published after it: the given pose moved on by odometry since its stamp
    first = next(row for row in streams.fused if row[0] > stamp + 10 ** 8)
    expected = se2_compose(np.array(given), se2_between(odom.at(stamp), odom.at(first[0])))
    assert np.allclose(first[1:3], expected[:2], atol=0.01)
