"""Property tests: random malformed messages raise MessageError and nothing else."""

from types import SimpleNamespace

from hypothesis import given, HealthCheck, settings, strategies as st
import numpy as np
import pytest

from ros2_infer import conversions as conv
from ros2_infer.conversions import MessageError

pytest.importorskip('rosbags')

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
sizes = st.one_of(st.integers(-3, 12), st.just(2 ** 31), st.floats(allow_nan=True),
                  st.none(), st.booleans())
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5),
                   st.none(), st.text(max_size=2))
encodings = st.one_of(st.sampled_from(sorted(conv.ENCODINGS)), st.text(max_size=8),
                      st.integers())
buffers = st.one_of(
    st.binary(max_size=600).map(lambda b: np.frombuffer(b, np.uint8)),
    st.binary(max_size=64),
    st.lists(st.integers(-2, 300), max_size=40),
    st.just(np.zeros(8, np.float32)), st.none(), st.text(max_size=4))


def store_types():
    from ros2_infer.rosbag.typestore import get_typestore

    return get_typestore().types


TYPES = store_types()
HEADER = conv.make_header(TYPES, 1, 'camera')


def only_message_errors(function, *args):
    """Call ``function``; a MessageError is fine, any other exception fails the test."""
    try:
        return function(*args)
    except MessageError:
        return None


@SETTINGS
@given(height=sizes, width=sizes, step=sizes, encoding=encodings,
       big=st.one_of(st.integers(-1, 3), st.booleans(), st.none()), data=buffers)
def test_random_images(height, width, step, encoding, big, data):
    msg = TYPES['sensor_msgs/msg/Image'](
        header=HEADER, height=height, width=width, encoding=encoding, is_bigendian=big,
        step=step, data=data)
    view = only_message_errors(conv.image_to_array, msg)
    if view is not None:
        assert view.shape[0] == height and view.shape[1] == width
    only_message_errors(conv.image_for_model, msg)


@SETTINGS
@given(encoding=st.sampled_from(sorted(conv.ENCODINGS)), height=st.integers(1, 5),
       width=st.integers(1, 6), pad=st.integers(-3, 5), trim=st.integers(-2, 2),
       big=st.booleans())
def test_nearly_valid_images(encoding, height, width, pad, trim, big):
    """Valid-looking sizes with off-by-a-few steps and data lengths."""
    enc = conv.ENCODINGS[encoding]
    step = width * enc.channels * int(enc.dtype[1]) + pad
    data = np.zeros(max(step * height + trim, 0), np.uint8)
    msg = TYPES['sensor_msgs/msg/Image'](
        header=HEADER, height=height, width=width, encoding=encoding, is_bigendian=int(big),
        step=step, data=data)
    view = only_message_errors(conv.image_to_array, msg)
    valid = pad >= 0 and trim == 0 and (enc.channels != 2 or width % 2 == 0)
    assert (view is not None) == valid
    only_message_errors(conv.image_for_model, msg)


@SETTINGS
@given(fmt=st.one_of(st.sampled_from(['jpeg', 'png', 'rgb8; jpeg compressed bgr8']),
                     st.text(max_size=6), st.none()),
       data=buffers)
def test_random_compressed_images(fmt, data):
    msg = TYPES['sensor_msgs/msg/CompressedImage'](header=HEADER, format=fmt, data=data)
    only_message_errors(conv.compressed_to_array, msg)


@SETTINGS
@given(values=st.lists(floats, min_size=6, max_size=6),
       ranges=st.one_of(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30),
                        st.none(), st.text(max_size=3)),
       intensities=st.one_of(st.lists(st.floats(), max_size=5), st.none()))
def test_random_scans(values, ranges, intensities):
    angle_min, increment, time_increment, scan_time, range_min, range_max = values
    msg = TYPES['sensor_msgs/msg/LaserScan'](
        header=HEADER, angle_min=angle_min, angle_max=0.0, angle_increment=increment,
        time_increment=time_increment, scan_time=scan_time, range_min=range_min,
        range_max=range_max, ranges=ranges, intensities=intensities)
    scan = only_message_errors(conv.scan_from_msg, msg)
    if scan is not None:
        finite = scan.ranges[np.isfinite(scan.ranges)]
        assert np.all((finite >= scan.range_min) & (finite <= scan.range_max))
        assert conv.scan_to_points(scan).shape[0] == finite.size


@SETTINGS
@given(width=sizes, height=sizes,
       k=st.one_of(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=10),
                   st.none()),
       d=st.one_of(st.lists(st.floats(), max_size=6), st.text(max_size=2)),
       model=st.one_of(st.sampled_from(['plumb_bob', 'equidistant', '']), st.text(max_size=5),
                       st.integers()))
def test_random_camera_infos(width, height, k, d, model):
    msg = SimpleNamespace(header=HEADER, width=width, height=height, k=k, d=d,
                          distortion_model=model)
    camera = only_message_errors(conv.camera_info_from_msg, msg)
    if camera is not None:
        projected = only_message_errors(conv.project_points, camera,
                                        np.array([[0.1, 0.2, 1.0]]))
        assert projected is None or projected[0].shape == (1, 2)


@SETTINGS
@given(xyz=st.lists(floats, min_size=3, max_size=3), q=st.lists(floats, min_size=4, max_size=4),
       cov=st.one_of(st.lists(st.floats(allow_nan=True), min_size=0, max_size=40), st.none()),
       stamp=st.tuples(st.one_of(st.integers(-10, 10), st.floats(), st.none()),
                       st.one_of(st.integers(-5, 2 * 10 ** 9), st.none())))
def test_random_odometry_and_tf(xyz, q, cov, stamp):
    t = TYPES
    header = t['std_msgs/msg/Header'](stamp=t['builtin_interfaces/msg/Time'](
        sec=stamp[0], nanosec=stamp[1]), frame_id='odom')
    point = t['geometry_msgs/msg/Point'](x=xyz[0], y=xyz[1], z=xyz[2])
    quat = t['geometry_msgs/msg/Quaternion'](x=q[0], y=q[1], z=q[2], w=q[3])
    pose = t['geometry_msgs/msg/Pose'](position=point, orientation=quat)
    vec = t['geometry_msgs/msg/Vector3'](x=xyz[0], y=xyz[1], z=xyz[2])
    odom = t['nav_msgs/msg/Odometry'](
        header=header, child_frame_id='base_footprint',
        pose=t['geometry_msgs/msg/PoseWithCovariance'](pose=pose, covariance=cov),
        twist=t['geometry_msgs/msg/TwistWithCovariance'](
            twist=t['geometry_msgs/msg/Twist'](linear=vec, angular=vec), covariance=cov))
    result = only_message_errors(conv.pose_from_odometry, odom)
    if result is not None:
        assert abs(np.linalg.norm(result.orientation) - 1.0) < 1e-9
    tf = t['tf2_msgs/msg/TFMessage'](transforms=[t['geometry_msgs/msg/TransformStamped'](
        header=header, child_frame_id='base_footprint',
        transform=t['geometry_msgs/msg/Transform'](translation=vec, rotation=quat))])
    only_message_errors(conv.transforms_from_tf, tf)


@SETTINGS
@given(boxes=st.lists(st.tuples(floats, floats, floats, floats, floats,
                                st.one_of(st.text(max_size=3), st.integers(), st.none())),
                      max_size=4))
def test_random_detection_arrays(boxes):
    t = TYPES
    detections = []
    for cx, cy, w, h, score, name in boxes:
        center = t['vision_msgs/msg/Pose2D'](
            position=t['vision_msgs/msg/Point2D'](x=cx, y=cy), theta=0.0)
        hypothesis = t['vision_msgs/msg/ObjectHypothesis'](class_id=name, score=score)
        result = t['vision_msgs/msg/ObjectHypothesisWithPose'](hypothesis=hypothesis, pose=None)
        detections.append(t['vision_msgs/msg/Detection2D'](
            header=HEADER, results=[result],
            bbox=t['vision_msgs/msg/BoundingBox2D'](center=center, size_x=w, size_y=h), id=''))
    msg = t['vision_msgs/msg/Detection2DArray'](header=HEADER, detections=detections)
    out = only_message_errors(conv.detections_from_msg, msg)
    if out is not None:
        assert len(out) == len(boxes)
        assert np.all(out.boxes[:, 2:] >= out.boxes[:, :2])


@SETTINGS
@given(fields=st.dictionaries(st.sampled_from(['header', 'height', 'width', 'step', 'encoding',
                                               'is_bigendian', 'data']),
                              st.integers(0, 4), max_size=6))
def test_missing_fields(fields):
    """A duck-typed message lacking fields is a MessageError, not an AttributeError."""
    msg = SimpleNamespace(**fields)
    only_message_errors(conv.image_to_array, msg)
    only_message_errors(conv.scan_from_msg, msg)
    only_message_errors(conv.camera_info_from_msg, msg)
    only_message_errors(conv.pose_from_odometry, msg)
