"""The newest-frame-wins worker, stats and lidar projection, without ROS."""

import threading
import time

import numpy as np
import pytest

from ros2_infer.core.sensors import CameraInfo, LaserScan
from ros2_infer.nodes.params import COMMON_PARAMS, Param
from ros2_infer.nodes.projection import confidence_map, fit_to_lidar, lidar_pixels
from ros2_infer.nodes.stats import diagnostic_array, NodeStats, RateMeter
from ros2_infer.nodes.worker import FrameWorker, LatestSlot


def test_slot_keeps_only_the_newest_and_counts_drops():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.put(3) is True
    item, arrived = slot.take(timeout=0.1)
    assert item == 3 and arrived <= time.monotonic()
    assert (slot.received, slot.dropped) == (3, 2)
    assert slot.take(timeout=0.01) is None
    slot.close()
    assert slot.take(timeout=1.0) is None


def test_slow_worker_never_queues_and_processes_the_newest():
    release = threading.Event()
    seen = []

    def process(item, arrived):
        seen.append(item)
        release.wait(2.0)

    worker = FrameWorker(process)
    worker.start()
    worker.submit(0)
    deadline = time.monotonic() + 2.0
    while not worker.busy and time.monotonic() < deadline:
        time.sleep(0.001)
    for i in range(1, 101):  # arrive while frame 0 is being processed
        worker.submit(i)
    assert worker.slot.pending()
    release.set()
    deadline = time.monotonic() + 2.0
    while worker.processed < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert worker.stop()
    assert seen == [0, 100]
    assert worker.dropped == 99
    assert worker.slot.received == 101


def test_worker_survives_errors_and_reports_them():
    errors = []
    done = threading.Event()

    def process(item, arrived):
        if item == 'bad':
            raise ValueError('boom')
        done.set()

    worker = FrameWorker(process, on_error=errors.append)
    worker.start()
    worker.submit('bad')
    time.sleep(0.05)
    worker.submit('good')
    assert done.wait(2.0)
    assert worker.stop()
    assert len(errors) == 1 and isinstance(errors[0], ValueError)


def test_stop_is_prompt_and_idempotent():
    worker = FrameWorker(lambda item, arrived: None)
    worker.start()
    start = time.monotonic()
    assert worker.stop() and worker.stop()
    assert time.monotonic() - start < 1.0


def test_rate_meter_and_latency_percentiles():
    meter = RateMeter(window_s=10.0)
    for i in range(11):
        meter.tick(100.0 + i * 0.1)
    assert meter.rate(101.0) == pytest.approx(10.0)
    assert meter.rate(200.0) == 0.0
    stats = NodeStats()
    now = time.monotonic()
    for ms in range(1, 101):
        stats.published(now - ms / 1e3)
    p50, p95 = stats.latency()
    assert 45 < p50 < 60 and 90 < p95 < 105
    stats.reject('image')
    values = dict(stats.key_values(dropped=4, extra={'backend': 'onnxruntime on cpu'}))
    assert values['dropped_frames'] == '4' and values['rejected.image'] == '1'
    assert values['backend'] == 'onnxruntime on cpu'


def test_diagnostic_array_builds_with_rosbags_classes():
    pytest.importorskip('rosbags')
    from ros2_infer.rosbag.typestore import get_typestore

    store = get_typestore()
    msg = diagnostic_array(store.types, 5, 'ros2_infer: detector', 'WARN', 'fallback',
                           [('latency_p50_ms', '3.00')], hardware_id='/detector')
    raw = store.serialize_cdr(msg, msg.__msgtype__)
    back = store.deserialize_cdr(raw, msg.__msgtype__)
    assert back.status[0].level == 1 and back.status[0].values[0].key == 'latency_p50_ms'


def test_param_checks():
    threshold = Param('detector.conf_threshold', 0.25, 'x', low=0.0, high=1.0)
    assert threshold.check(0.5) is None and threshold.check(1.0) is None
    assert 'must be a float' in threshold.check(1)  # rclpy: an int is not a double
    assert 'must be <=' in threshold.check(1.5)
    assert 'must be a float' in threshold.check('high')
    device = next(p for p in COMMON_PARAMS if p.name == 'model.device')
    assert device.check('cuda') is None and 'one of' in device.check('tpu')
    assert device.read_only and 'One of' in device.full_description()
    threads = next(p for p in COMMON_PARAMS if p.name == 'model.threads')
    assert threads.check(True) is not None  # bools are not ints here
    assert all(p.description for p in COMMON_PARAMS)


def turtlebot_camera():
    k = np.array([[530.5, 0, 320.5], [0, 530.5, 240.5], [0, 0, 1]])
    return CameraInfo(640, 480, k, np.zeros(5))


# base_scan -> camera_rgb_optical_frame on a Waffle Pi: optical z = scan x, optical x = -scan y,
# optical y = -scan z, lidar origin 0.05 m below and 0.13 m behind the camera.
CAMERA_FROM_SCAN = np.array([[0, -1, 0, 0.0], [0, 0, -1, 0.05], [1, 0, 0, -0.13], [0, 0, 0, 1]],
                            dtype=np.float64)


def wall_scan(distance=2.0):
    angles = np.arange(360) * (2 * np.pi / 360)
    with np.errstate(divide='ignore'):
        ranges = np.where(np.cos(angles) > 0.2, distance / np.cos(angles), np.inf)
    ranges = np.where(ranges <= 3.5, ranges, np.nan).astype(np.float32)
    return LaserScan(0, 'base_scan', 0.0, 2 * np.pi / 360, 0.0, 0.2, 0.12, 3.5, ranges)


def test_lidar_projects_into_a_band_of_rows():
    rows, cols, z = lidar_pixels(turtlebot_camera(), wall_scan(), CAMERA_FROM_SCAN)
    assert rows.size > 30
    assert np.all((rows >= 0) & (rows < 480) & (cols >= 0) & (cols < 640))
    assert np.ptp(rows) <= 1  # a planar scan is one image row here
    np.testing.assert_allclose(z, 2.0 - 0.13, atol=1e-6)


def test_fit_recovers_metric_depth_of_a_relative_map():
    camera = turtlebot_camera()
    scan = wall_scan()
    # Returns at many depths, so both scale and shift are observable.
    scan.ranges = np.linspace(0.6, 3.4, scan.ranges.size).astype(np.float32)
    rows, cols, z = lidar_pixels(camera, scan, CAMERA_FROM_SCAN)
    true_scale, true_shift = 0.5, 0.1
    depth = np.full((480, 640), 3.0, np.float32)
    depth[rows, cols] = z
    relative = ((1.0 / depth) - true_shift) / true_scale
    fit = fit_to_lidar(relative, camera, scan, CAMERA_FROM_SCAN)
    assert fit.ok and fit.shift_observable
    assert fit.scale == pytest.approx(true_scale, rel=1e-3)
    assert fit.shift == pytest.approx(true_shift, abs=1e-3)
    metric = fit.apply(relative, 0.05, 20.0)
    np.testing.assert_allclose(metric, depth, rtol=1e-3)
    confidence = confidence_map(metric, fit)
    assert confidence.dtype == np.float32 and confidence.max() == pytest.approx(1.0)


def test_empty_scan_gives_no_pixels():
    scan = wall_scan()
    scan.ranges[:] = np.nan
    rows, cols, z = lidar_pixels(turtlebot_camera(), scan, CAMERA_FROM_SCAN)
    assert rows.size == cols.size == z.size == 0


def test_every_parameter_is_documented_and_in_the_params_file():
    from pathlib import Path

    import yaml

    from ros2_infer.nodes.localizer_support import LOCALIZER_PARAMS
    from ros2_infer.nodes.params import DEPTH_PARAMS, DETECTOR_PARAMS

    root = Path(__file__).resolve().parents[1]
    doc = (root / 'docs' / 'ros_interface.md').read_text(encoding='utf-8')
    config = yaml.safe_load((root / 'config' / 'perception.yaml').read_text(encoding='utf-8'))
    in_file = set()
    for section in config.values():
        in_file |= set(section['ros__parameters'])
    for param in COMMON_PARAMS + DETECTOR_PARAMS + DEPTH_PARAMS:
        assert f'| `{param.name}` |' in doc, param.name
        if param.name != 'autostart':
            assert param.name in in_file or param.name in ('model.half',), param.name
        assert param.check(param.default) is None
    # The localizer: every parameter documented, and in its own section of the params file
    # (or the shared one) with a value it accepts.
    localizer = dict(config['/**']['ros__parameters'],
                     **config['/**/localizer']['ros__parameters'])
    for param in LOCALIZER_PARAMS:
        assert f'| `{param.name}` |' in doc, param.name
        if param.name != 'autostart':
            assert param.name in localizer, param.name
            assert param.check(localizer[param.name]) is None, param.name
    # The shipped params file runs the bundled models, and they exist.
    from ros2_infer.models import resolve_model_spec

    for node, task in (('/**/detector', 'detect'), ('/**/depth', 'depth')):
        spec = config[node]['ros__parameters']['model.spec']
        assert spec.startswith('bundled:')
        if (root / 'ros2_infer' / 'models' / f'{spec.split(":", 1)[1]}.yaml').is_file():
            from ros2_infer.core.spec import load_spec
            assert load_spec(resolve_model_spec(spec)).task == task
