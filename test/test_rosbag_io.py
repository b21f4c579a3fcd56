"""Tests of ros2_infer.rosbag: typestore, writer (MCAP/sqlite3) and log-time reader."""

import numpy as np
import pytest

from ros2_infer.core.errors import InputError
from ros2_infer.rosbag import (BagWriter, get_typestore, iter_messages, QOS_TRANSIENT_LOCAL,
                               topic_types)
import yaml


def _header(ts, stamp_ns, frame):
    t = ts.types
    return t['std_msgs/msg/Header'](
        stamp=t['builtin_interfaces/msg/Time'](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
        frame_id=frame)


def _detections(ts, stamp_ns):
    t = ts.types
    hyp = t['vision_msgs/msg/ObjectHypothesisWithPose'](
        hypothesis=t['vision_msgs/msg/ObjectHypothesis'](class_id='barrel', score=0.5),
        pose=t['geometry_msgs/msg/PoseWithCovariance'](
            pose=t['geometry_msgs/msg/Pose'](
                position=t['geometry_msgs/msg/Point'](x=1.0, y=2.0, z=3.0),
                orientation=t['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=0.0, w=1.0)),
            covariance=np.zeros(36)))
    box = t['vision_msgs/msg/BoundingBox2D'](
        center=t['vision_msgs/msg/Pose2D'](
            position=t['vision_msgs/msg/Point2D'](x=10.5, y=20.25), theta=0.0),
        size_x=4.0, size_y=8.0)
    det = t['vision_msgs/msg/Detection2D'](header=_header(ts, stamp_ns, 'cam'), results=[hyp],
                                           bbox=box, id='7')
    return t['vision_msgs/msg/Detection2DArray'](header=_header(ts, stamp_ns, 'cam'),
                                                 detections=[det])


def test_typestore_has_vision_msgs_4_1():
    ts = get_typestore()
    fields = dict(ts.fielddefs['vision_msgs/msg/BoundingBox2D'][1])
    assert fields['center'][1] == 'vision_msgs/msg/Pose2D'
    assert 'position' in dict(ts.fielddefs['vision_msgs/msg/Pose2D'][1])
    hyp = dict(ts.fielddefs['vision_msgs/msg/ObjectHypothesis'][1])
    assert set(hyp) == {'class_id', 'score'}
    for name in ('Detection3DArray', 'LabelInfo', 'VisionInfo', 'VisionClass',
                 'BoundingBox3D'):
        assert f'vision_msgs/msg/{name}' in ts.fielddefs


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_write_read_in_log_time_order(tmp_path, storage):
    ts = get_typestore()
    path = tmp_path / 'bag'
    # Written out of log-time order; the reorder window puts them in order.
    log_times = [5_000, 1_000, 3_000, 2_000, 9_000]
    with BagWriter(path, storage=storage, reorder_window_ns=10_000) as bag:
        bag.add_topic('/det', 'vision_msgs/msg/Detection2DArray')
        bag.add_topic('/tf_static', 'tf2_msgs/msg/TFMessage', qos=QOS_TRANSIENT_LOCAL)
        for i, log in enumerate(log_times):
            bag.write('/det', _detections(ts, 100 + i), log)
        bag.write('/tf_static', ts.types['tf2_msgs/msg/TFMessage'](transforms=[]), 4_000)
    msgs = list(iter_messages(path))
    assert [m.log_time_ns for m in msgs] == sorted(log_times + [4_000])
    dets = [m for m in msgs if m.topic == '/det']
    assert [m.msg.header.stamp.nanosec for m in dets] == [101, 103, 102, 100, 104]
    box = dets[0].msg.detections[0].bbox
    assert (box.center.position.x, box.center.position.y, box.size_y) == (10.5, 20.25, 8.0)
    assert dets[0].msg.detections[0].results[0].hypothesis.class_id == 'barrel'
    assert [m.topic for m in iter_messages(path, topics=['/tf_static'])] == ['/tf_static']
    assert topic_types(path)['/det'] == 'vision_msgs/msg/Detection2DArray'
    meta = yaml.safe_load((path / 'metadata.yaml').read_text())
    info = meta['rosbag2_bagfile_information']
    assert info['storage_identifier'] == storage
    qos = {t['topic_metadata']['name']: t['topic_metadata']['offered_qos_profiles']
           for t in info['topics_with_message_count']}
    assert 'transient_local' in str(qos['/tf_static'])
    assert 'volatile' in str(qos['/det'])


def test_mcap_readable_by_mcap_ros2_reader(tmp_path):
    from mcap_ros2.reader import read_ros2_messages

    ts = get_typestore()
    path = tmp_path / 'bag'
    with BagWriter(path) as bag:
        bag.add_topic('/det', 'vision_msgs/msg/Detection2DArray')
        bag.write('/det', _detections(ts, 42), 1_000)
    files = list(path.glob('*.mcap'))
    assert len(files) == 1
    decoded = list(read_ros2_messages(str(files[0])))
    assert len(decoded) == 1
    msg = decoded[0].ros_msg
    assert msg.header.stamp.nanosec == 42
    assert msg.detections[0].bbox.center.position.y == 20.25
    assert decoded[0].log_time_ns == 1_000


def test_writer_errors(tmp_path):
    path = tmp_path / 'bag'
    with pytest.raises(InputError, match='storage'):
        BagWriter(path, storage='rosbag1')
    with BagWriter(path, reorder_window_ns=100) as bag:
        with pytest.raises(InputError, match='unknown message type'):
            bag.add_topic('/x', 'nope_msgs/msg/Nope')
        bag.add_topic('/c', 'rosgraph_msgs/msg/Clock')
        with pytest.raises(InputError, match='not added'):
            bag.write('/y', None, 0)
        clock = get_typestore().types['rosgraph_msgs/msg/Clock']
        time_t = get_typestore().types['builtin_interfaces/msg/Time']
        bag.write('/c', clock(clock=time_t(sec=0, nanosec=0)), 1_000)
        bag.write('/c', clock(clock=time_t(sec=0, nanosec=2)), 2_000)
        bag.write('/c', clock(clock=time_t(sec=0, nanosec=3)), 1_950)  # inside the window
        with pytest.raises(InputError, match='reorder window'):
            bag.write('/c', clock(clock=time_t(sec=0, nanosec=1)), 10)
    with pytest.raises(InputError, match='exists'):
        BagWriter(path)
    with pytest.raises(InputError, match='not found'):
        list(iter_messages(tmp_path / 'missing'))
