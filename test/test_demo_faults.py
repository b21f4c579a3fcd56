"""
Faults and malformed inputs injected into the demo's replay (the 20 s demo bag).

Each case replays the bag in arrival order through the core pipeline with the bundled detector,
changing or dropping messages on the way in (``replay(message_filter=...)``), and checks that
nothing crashes, the fault is counted, its warning is rate-limited and the pose recovers.
"""

import copy
import logging

import numpy as np
import pytest

SEC = 1_000_000_000
COMPRESSED = '/camera/image_raw/compressed'


@pytest.fixture(scope='module')
def bag():
    from ros2_infer.demo.run import CAMERA_RATE, SIM_EXTRA
    from ros2_infer.training.simdata import simulate_runs

    return simulate_runs([1], duration=20, camera_rate=CAMERA_RATE, randomize=False,
                         extra=list(SIM_EXTRA))[0]


@pytest.fixture(scope='module')
def truth(bag):
    from ros2_infer.replay import metrics as M

    return M.ground_truth(bag)[0]


def _replay(bag, message_filter=None, pipeline=None):
    from ros2_infer.core.pipeline import FusionPipeline, PipelineConfig
    from ros2_infer.demo.backends import model_names
    from ros2_infer.models import bundled_spec
    from ros2_infer.replay.runner import replay

    pipeline = pipeline or FusionPipeline(PipelineConfig(deskew=False))
    streams = replay(bag, pipeline, detections='model',
                     model_spec=str(bundled_spec(model_names('onnxruntime')[0])),
                     message_filter=message_filter)
    return pipeline, streams


def _window(start_s, end_s, topics):
    """Drop the messages of ``topics`` whose log time is in [start, end) seconds."""
    def drop(topic, log_ns, msg):
        if topic in topics and start_s * SEC <= log_ns < end_s * SEC:
            return None
        return msg
    return drop


def _max_error(streams_fused, truth, after_s=0.0):
    from ros2_infer.replay import metrics as M

    e = M.errors([r for r in streams_fused if r[0] >= after_s * SEC], truth)
    return float(np.hypot(e[:, 1], e[:, 2]).max())


def _warnings(caplog, text):
    return [r for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


def test_slam_dropout_keeps_running_and_recovers(bag, truth):
    pipeline, streams = _replay(bag, _window(6, 14, {'/amcl_pose', '/tf'}))
    during = [r for r in streams.fused if 6 * SEC <= r[0] < 14 * SEC]
    assert len(during) > 100                      # odometry keeps the fused pose flowing
    assert _max_error(streams.fused, truth) < 0.20


def test_camera_dropout(bag, truth):
    topics = {COMPRESSED, '/camera/camera_info'}
    pipeline, streams = _replay(bag, _window(5, 10, topics))
    assert len([r for r in streams.fused if r[0] > 12 * SEC]) > 100
    assert _max_error(streams.fused, truth) < 0.20


def test_all_nan_scans_are_faults_not_crashes(bag, truth, caplog):
    def nan_scan(topic, log_ns, msg):
        if topic == '/scan' and 4 * SEC <= log_ns < 12 * SEC:
            msg = copy.copy(msg)
            msg.ranges = np.full(len(msg.ranges), np.nan, np.float32)
        return msg

    with caplog.at_level(logging.WARNING, logger='ros2_infer'):
        pipeline, streams = _replay(bag, nan_scan)
    faults = pipeline.stats()['faults']
    assert faults.get('empty_scan', 0) >= 30      # 8 s at 5 Hz
    assert _max_error(streams.fused, truth) < 0.20
    # reported once per interval (5 s), not once per scan
    assert 1 <= len(_warnings(caplog, 'scan')) <= 6


def test_missing_static_transform(bag, caplog):
    with caplog.at_level(logging.WARNING, logger='ros2_infer'):
        pipeline, streams = _replay(bag, lambda topic, log_ns, msg:
                                    None if topic == '/tf_static' else msg)
    faults = pipeline.stats()['faults']
    assert faults.get('missing_tf', 0) > 100
    assert len(streams.fused) > 100               # odometry + SLAM still fused
    assert 1 <= len(_warnings(caplog, 'no TF')) <= 6


def test_time_jumping_backwards_bag_loop(bag, truth):
    """Replay the bag twice into one pipeline: stamps jump back 20 s, the pipeline resets."""
    pipeline, first = _replay(bag)
    pipeline, second = _replay(bag, pipeline=pipeline)
    assert pipeline.stats()['faults'].get('reset', 0) >= 1
    assert len(second.fused) > 0.8 * len(first.fused)
    assert _max_error(second.fused, truth, after_s=5.0) < 0.20


@pytest.mark.parametrize('case', ['zero_camera_info', 'nan_camera_info', 'empty_scan',
                                  'wrong_image_format'])
def test_malformed_inputs_rejected(bag, case):
    def corrupt(topic, log_ns, msg):
        if not 4 * SEC <= log_ns < 8 * SEC:
            return msg
        if topic == '/camera/camera_info' and case.endswith('camera_info'):
            msg = copy.copy(msg)
            msg.k = np.zeros(9) if case == 'zero_camera_info' else np.full(9, np.nan)
            if case == 'zero_camera_info':
                msg.width = 0
        elif topic == '/scan' and case == 'empty_scan':
            msg = copy.copy(msg)
            msg.ranges = np.zeros(0, np.float32)
        elif topic == COMPRESSED and case == 'wrong_image_format':
            msg = copy.copy(msg)
            msg.format = 'bayer_rggb8; 16UC1 compressedDepth'
        return msg

    pipeline, streams = _replay(bag, corrupt)
    faults = pipeline.stats()['faults']
    expected = {'zero_camera_info': 'bad_camera_info', 'nan_camera_info': 'bad_camera_info',
                'empty_scan': 'empty_scan'}.get(case)
    if expected:
        assert faults.get(expected, 0) > 0, faults
    assert len(streams.fused) > 500


@pytest.mark.parametrize('case', ['truncated', 'garbage'])
def test_undecodable_images_do_not_crash_replay(bag, case):
    def corrupt(topic, log_ns, msg):
        if topic == COMPRESSED and 5 * SEC <= log_ns < 6 * SEC:
            msg = copy.copy(msg)
            data = np.asarray(msg.data, np.uint8)
            msg.data = data[:len(data) // 3] if case == 'truncated' else np.zeros(16, np.uint8)
        return msg

    pipeline, streams = _replay(bag, corrupt)
    assert len(streams.fused) > 500
    if case == 'garbage':  # a truncated JPEG may still decode (grey rows): not a fault
        assert pipeline.faults.get('bad_image', 0) > 0, pipeline.faults
