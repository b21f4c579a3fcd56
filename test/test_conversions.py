"""Conversions against rosbags message classes: every encoding, padding, byte order, CDR."""

import array

import numpy as np
import pytest

from ros2_infer import conversions as conv
from ros2_infer.conversions import MessageError
from ros2_infer.conversions._common import bytes_view, new, u8_field
from ros2_infer.core.detections import Detections
from ros2_infer.core.sensors import CameraInfo, LaserScan, PoseStamped, Transform

pytest.importorskip('rosbags')


@pytest.fixture(scope='module')
def store():
    from ros2_infer.rosbag.typestore import get_typestore

    return get_typestore()


@pytest.fixture(scope='module')
def types(store):
    return store.types


def cdr_round_trip(store, msg):
    """Serialize and deserialize, so every test also checks the message is well-formed."""
    raw = store.serialize_cdr(msg, msg.__msgtype__)
    return store.deserialize_cdr(raw, msg.__msgtype__)


def header(types, ns=1_700_000_000_123_456_789, frame='camera_rgb_optical_frame'):
    return conv.make_header(types, ns, frame)


def padded_image(types, pixels, encoding, pad, big_endian=False):
    """Build an Image by hand with ``pad`` bytes after every row, optionally big-endian."""
    height, width = pixels.shape[:2]
    dtype = pixels.dtype.newbyteorder('>' if big_endian else '<')
    raw = pixels.astype(dtype).reshape(height, -1).view(np.uint8)
    rows = np.zeros((height, raw.shape[1] + pad), np.uint8)
    rows[:, :raw.shape[1]] = raw
    return types['sensor_msgs/msg/Image'](
        header=header(types), height=height, width=width, encoding=encoding,
        is_bigendian=int(big_endian), step=rows.shape[1], data=rows.reshape(-1))


def random_pixels(encoding, height=7, width=10, seed=0):
    rng = np.random.default_rng(seed)
    enc = conv.ENCODINGS[encoding]
    shape = (height, width) if enc.channels == 1 else (height, width, enc.channels)
    if enc.dtype == 'f4':
        return rng.normal(2.0, 1.0, shape).astype(np.float32)
    info = np.iinfo(np.dtype(enc.dtype))
    return rng.integers(0, info.max + 1, shape).astype(enc.dtype)


ALL_ENCODINGS = sorted(conv.ENCODINGS)


@pytest.mark.parametrize('encoding', ALL_ENCODINGS)
def test_image_round_trip_every_encoding(types, store, encoding):
    pixels = random_pixels(encoding)
    msg = conv.array_to_image(pixels, encoding, header(types), types)
    assert msg.step == pixels.shape[1] * pixels.itemsize * (
        pixels.shape[2] if pixels.ndim == 3 else 1)
    back = conv.image_to_array(cdr_round_trip(store, msg))
    np.testing.assert_array_equal(back, pixels)
    # Without serialization the array is a view of the message's buffer (zero copy).
    assert np.shares_memory(conv.image_to_array(msg), msg.data)


@pytest.mark.parametrize('encoding', ALL_ENCODINGS)
@pytest.mark.parametrize('pad', [1, 3, 7])
def test_odd_step_padding_is_honoured_without_copy(types, encoding, pad):
    pixels = random_pixels(encoding, seed=pad)
    msg = padded_image(types, pixels, encoding, pad)
    view = conv.image_to_array(msg)
    np.testing.assert_array_equal(view, pixels)
    assert np.shares_memory(view, msg.data)
    assert view.strides[0] == msg.step


@pytest.mark.parametrize('encoding', ['mono16', '16UC1', '32FC1'])
def test_big_endian_data_reads_right(types, encoding):
    pixels = random_pixels(encoding, seed=3)
    msg = padded_image(types, pixels, encoding, pad=2, big_endian=True)
    view = conv.image_to_array(msg)
    assert view.dtype.byteorder == '>'
    np.testing.assert_array_equal(view, pixels)
    native = conv.native(view)
    assert native.dtype.isnative
    np.testing.assert_array_equal(native, pixels)


@pytest.mark.parametrize('encoding,color', [('rgb8', 'rgb'), ('bgr8', 'bgr'), ('mono8', 'gray'),
                                            ('rgba8', 'rgb'), ('bgra8', 'bgr'),
                                            ('mono16', 'gray')])
def test_image_for_model_colour_and_content(types, encoding, color):
    pixels = random_pixels(encoding, seed=5)
    image, got = conv.image_for_model(conv.array_to_image(pixels, encoding, header(types),
                                                          types))
    assert got == color and image.dtype == np.uint8
    if encoding in ('rgba8', 'bgra8'):
        np.testing.assert_array_equal(image, pixels[:, :, :3])
    elif encoding == 'mono16':
        np.testing.assert_array_equal(image, (pixels >> 8).astype(np.uint8))
    else:
        np.testing.assert_array_equal(image, pixels)


@pytest.mark.parametrize('encoding', ['yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv'])
def test_yuv422_is_converted_to_rgb(types, encoding):
    # A flat grey in YUV (Y=128, U=V=128) must come back as grey 128 in RGB.
    raw = np.full((4, 6, 2), 128, np.uint8)
    image, color = conv.image_for_model(conv.array_to_image(raw, encoding, header(types),
                                                            types))
    assert color == 'rgb' and image.shape == (4, 6, 3)
    assert np.all(np.abs(image.astype(int) - 128) <= 2)
    # Y is at byte 1 of each pair in UYVY and byte 0 in YUYV: a bright Y must show up.
    raw = np.zeros((2, 2, 2), np.uint8) + 128
    raw[:, :, 1 if encoding in ('yuv422', 'uyvy') else 0] = 235
    image, _ = conv.image_for_model(conv.array_to_image(raw, encoding, header(types), types))
    assert image.mean() > 200


def test_float_image_is_not_a_camera_image(types):
    msg = conv.array_to_image(np.ones((3, 4), np.float32), '32FC1', header(types), types)
    with pytest.raises(MessageError):
        conv.image_for_model(msg)


@pytest.mark.parametrize('big_endian', [False, True])
def test_depth_images_become_metres_with_nan_for_no_depth(types, big_endian):
    metres = np.array([[1.5, 0.0, np.inf], [np.nan, -1.0, 2.25]], np.float32)
    msg = padded_image(types, metres, '32FC1', pad=4, big_endian=big_endian)
    got = conv.depth_to_metres(msg)
    assert got.dtype == np.float32 and got.dtype.isnative
    np.testing.assert_array_equal(got, [[1.5, np.nan, np.nan], [np.nan, np.nan, 2.25]])
    millimetres = np.array([[1500, 0], [65535, 2250]], np.uint16)
    msg = padded_image(types, millimetres, '16UC1', pad=2, big_endian=big_endian)
    np.testing.assert_allclose(conv.depth_to_metres(msg), [[1.5, np.nan], [65.535, 2.25]],
                               rtol=1e-6)
    with pytest.raises(MessageError, match='not a depth image'):
        conv.depth_to_metres(conv.array_to_image(np.zeros((2, 2), np.uint8), 'mono8',
                                                 header(types), types))


def test_header_copied_exactly(types, store):
    h = header(types, 5_000_000_001, 'cam')
    msg = cdr_round_trip(store, conv.array_to_image(np.zeros((2, 2, 3), np.uint8), 'rgb8', h,
                                                    types))
    assert conv.stamp_ns(msg.header) == 5_000_000_001 and msg.header.frame_id == 'cam'


@pytest.mark.parametrize('fmt', ['jpeg', 'png'])
def test_compressed_round_trip(types, store, fmt):
    rng = np.random.default_rng(1)
    pixels = np.repeat(np.repeat(rng.integers(0, 255, (3, 4, 3), dtype=np.uint8), 16, 0), 16, 1)
    msg = cdr_round_trip(store, conv.array_to_compressed(pixels, 'rgb', header(types), fmt,
                                                         types))
    image, color = conv.compressed_to_array(msg)
    assert color == 'bgr' and image.shape == pixels.shape
    error = np.abs(image[:, :, ::-1].astype(int) - pixels.astype(int))
    assert error.max() == 0 if fmt == 'png' else error.mean() < 8
    gray, color = conv.compressed_to_array(conv.array_to_compressed(
        pixels[:, :, 0], 'gray', header(types), fmt, types))
    assert color == 'gray' and gray.shape == pixels.shape[:2]


def test_image_transport_format_string_is_accepted(types):
    msg = conv.array_to_compressed(np.zeros((8, 8, 3), np.uint8), 'bgr', header(types), 'jpeg',
                                   types)
    msg.format = 'rgb8; jpeg compressed bgr8'
    assert conv.compressed_to_array(msg)[0].shape == (8, 8, 3)


@pytest.mark.parametrize('mutate,match', [
    (lambda m: setattr(m, 'encoding', 'bayer_rggb8'), 'unsupported image encoding'),
    (lambda m: setattr(m, 'step', m.step - 1), 'step'),
    (lambda m: setattr(m, 'height', m.height + 1), 'bytes of data'),
    (lambda m: setattr(m, 'width', -3), '>= 0'),
    (lambda m: setattr(m, 'data', np.zeros(0, np.uint8)), 'empty'),
    (lambda m: setattr(m, 'data', m.data[:-1]), 'bytes of data'),
    (lambda m: setattr(m, 'is_bigendian', 7), 'is_bigendian'),
    (lambda m: setattr(m, 'height', 2.5), 'integer'),
    (lambda m: setattr(m, 'data', np.zeros(4, np.float32)), 'uint8'),
])
def test_malformed_images_raise_message_error(types, mutate, match):
    msg = conv.array_to_image(np.zeros((4, 6, 3), np.uint8), 'rgb8', header(types), types)
    mutate(msg)
    with pytest.raises(MessageError, match=match):
        conv.image_to_array(msg)


def test_malformed_compressed_images_raise_message_error(types):
    cls = types['sensor_msgs/msg/CompressedImage']
    for fmt, data in [('jpeg', np.zeros(0, np.uint8)), ('jpeg', np.arange(50, dtype=np.uint8)),
                      ('tiff', np.arange(50, dtype=np.uint8)),
                      ('16UC1; compressedDepth', np.arange(50, dtype=np.uint8))]:
        with pytest.raises(MessageError):
            conv.compressed_to_array(cls(header=header(types), format=fmt, data=data))


def test_array_to_image_rejects_mismatched_arrays(types):
    for values, encoding in [(np.zeros((4, 4), np.uint8), 'rgb8'),
                             (np.zeros((4, 4, 3), np.float32), 'rgb8'),
                             (np.zeros((4, 4), np.uint8), '32FC1'),
                             (np.zeros((0, 4, 3), np.uint8), 'rgb8'),
                             (np.zeros((4, 4), np.uint8), 'nv12')]:
        with pytest.raises(MessageError):
            conv.array_to_image(values, encoding, header(types), types)


def test_uint8_field_for_rclpy_style_classes_is_an_array_of_bytes():
    class Fake:  # no __msgtype__: treated like an rclpy message class
        pass

    values = np.arange(12, dtype=np.uint8).reshape(3, 4)
    field = u8_field(Fake, values)
    assert isinstance(field, array.array) and field.typecode == 'B'
    assert field.tobytes() == values.tobytes()
    np.testing.assert_array_equal(bytes_view(field), values.ravel())
    assert bytes_view(b'\x01\x02').tolist() == [1, 2]
    assert bytes_view([1, 2, 255]).tolist() == [1, 2, 255]
    with pytest.raises(MessageError):
        bytes_view([1, 256])
    with pytest.raises(MessageError):
        bytes_view(array.array('f', [1.0]))


# ---- camera info -----------------------------------------------------------------------------
def test_camera_info_round_trip_and_projection(types, store):
    camera = CameraInfo(width=640, height=480,
                        k=np.array([[530.5, 0, 320.5], [0, 530.5, 240.5], [0, 0, 1]]),
                        d=np.zeros(5), frame_id='camera_rgb_optical_frame', stamp_ns=42)
    msg = cdr_round_trip(store, conv.camera_info_to_msg(camera, header(types, 42), types))
    back = conv.camera_info_from_msg(msg)
    np.testing.assert_allclose(back.k, camera.k)
    assert (back.width, back.height, back.frame_id, back.stamp_ns) == (
        640, 480, 'camera_rgb_optical_frame', 42)
    uv, inside = conv.project_points(back, np.array([[0.0, 0.0, 2.0], [1.0, 0.5, 2.0],
                                                     [0.0, 0.0, -1.0], [50.0, 0.0, 1.0]]))
    np.testing.assert_allclose(uv[0], [320.5, 240.5])
    np.testing.assert_allclose(uv[1], [320.5 + 530.5 / 2, 240.5 + 530.5 / 4])
    assert inside.tolist() == [True, True, False, False]


def test_projection_refuses_other_distortion_models():
    camera = CameraInfo(640, 480, np.eye(3) * [500, 500, 1], np.array([0.1, 0.0, 0.0, 0.0]),
                        distortion_model='equidistant')
    with pytest.raises(MessageError, match='plumb_bob'):
        conv.project_points(camera, np.array([[0.0, 0.0, 1.0]]))


def test_projection_applies_plumb_bob_distortion():
    k = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    plain = CameraInfo(640, 480, k, np.zeros(5))
    barrel = CameraInfo(640, 480, k, np.array([-0.2, 0.0, 0.0, 0.0, 0.0]))
    point = np.array([[0.4, 0.0, 1.0]])
    u_plain = conv.project_points(plain, point)[0][0, 0]
    u_barrel = conv.project_points(barrel, point)[0][0, 0]
    assert u_barrel < u_plain  # barrel distortion pulls points towards the centre


@pytest.mark.parametrize('field,value', [('k', np.zeros(9)), ('width', 0), ('height', -1),
                                         ('k', np.full(9, np.nan)), ('d', [np.inf]),
                                         ('distortion_model', 'fisheye_unknown'),
                                         ('k', np.ones(4))])
def test_malformed_camera_info(types, field, value):
    camera = CameraInfo(640, 480, np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]),
                        np.zeros(5))
    msg = conv.camera_info_to_msg(camera, header(types), types)
    setattr(msg, field, np.asarray(value) if field in ('k', 'd') else value)
    with pytest.raises(MessageError):
        conv.camera_info_from_msg(msg)


# ---- scan ------------------------------------------------------------------------------------
def lds_msg(types, ranges_in, **overrides):
    ranges = ranges_in
    fields = {'header': header(types, 10, 'base_scan'), 'angle_min': 0.0,
              'angle_max': float(0.017453 * (len(ranges) - 1)), 'angle_increment': 0.017453,
              'time_increment': 0.2 / 360, 'scan_time': 0.2, 'range_min': 0.12,
              'range_max': 3.5, 'ranges': np.asarray(ranges, np.float32),
              'intensities': np.zeros(0, np.float32)}
    fields.update(overrides)
    return types['sensor_msgs/msg/LaserScan'](**fields)


def test_scan_no_returns_become_nan_and_angles_follow_increment(types, store):
    ranges = [1.0, 0.0, np.inf, np.nan, 0.05, 4.0, 3.5, 0.12]
    scan = conv.scan_from_msg(cdr_round_trip(store, lds_msg(types, ranges)))
    assert np.isfinite(scan.ranges).tolist() == [True, False, False, False, False, False, True,
                                                 True]
    np.testing.assert_allclose(scan.angles()[:3], [0.0, 0.017453, 0.034906], atol=1e-9)
    assert scan.time_increment == pytest.approx(0.2 / 360) and scan.frame_id == 'base_scan'
    points = conv.scan_to_points(scan)
    assert points.shape == (3, 3)
    np.testing.assert_allclose(points[0], [1.0, 0.0, 0.0])


def test_scan_round_trip(types, store):
    scan = LaserScan(stamp_ns=7, frame_id='base_scan', angle_min=-1.0, angle_increment=0.5,
                     time_increment=0.001, scan_time=0.1, range_min=0.1, range_max=5.0,
                     ranges=np.array([1.0, np.nan, 2.0], np.float32))
    back = conv.scan_from_msg(cdr_round_trip(store, conv.scan_to_msg(
        scan, header(types, 7, 'base_scan'), types)))
    np.testing.assert_array_equal(np.isnan(back.ranges), np.isnan(scan.ranges))
    assert back.angle_min == -1.0 and back.angle_increment == 0.5


@pytest.mark.parametrize('overrides', [
    {'ranges': np.zeros(0, np.float32)}, {'angle_increment': 0.0},
    {'angle_min': float('nan')}, {'range_max': float('inf')}, {'range_min': -1.0},
    {'range_min': 4.0}, {'time_increment': float('nan')},
    {'intensities': np.ones(3, np.float32)}])
def test_malformed_scans(types, overrides):
    with pytest.raises(MessageError):
        conv.scan_from_msg(lds_msg(types, [1.0, 2.0], **overrides))


# ---- odometry, poses, tf ---------------------------------------------------------------------
def test_odometry_pose_and_tf(types, store):
    from ros2_infer.sim.messages import MessageFactory

    factory = MessageFactory()
    cov = np.diag([0.01, 0.02, 0, 0, 0, 0.03]).ravel()
    odom = cdr_round_trip(store, factory.odometry(3_000_000_000, 'odom', 'base_footprint', 1.0,
                                                  -2.0, 0.5, 0.2, 0.1, pose_cov=cov))
    pose = conv.pose_from_odometry(odom)
    assert isinstance(pose, PoseStamped) and pose.stamp_ns == 3_000_000_000
    assert pose.frame_id == 'odom' and pose.child_frame_id == 'base_footprint'
    assert pose.yaw() == pytest.approx(0.5)
    np.testing.assert_allclose(pose.position, [1.0, -2.0, 0.0])
    np.testing.assert_allclose(np.diag(pose.covariance), [0.01, 0.02, 0, 0, 0, 0.03])
    assert pose.linear_velocity[0] == pytest.approx(0.2)

    amcl = cdr_round_trip(store, factory.pose_with_covariance(5, 'map', 0.5, 0.0, -1.0, cov))
    pose = conv.pose_from_pose_with_covariance_stamped(amcl)
    assert pose.frame_id == 'map' and pose.yaw() == pytest.approx(-1.0)
    back = conv.pose_from_pose_with_covariance_stamped(cdr_round_trip(
        store, conv.pose_to_msg(pose, types)))
    np.testing.assert_allclose(back.orientation, pose.orientation)

    stamped = types['geometry_msgs/msg/PoseStamped'](header=header(types, 9, 'map'),
                                                     pose=amcl.pose.pose)
    assert conv.pose_from_pose_stamped(stamped).yaw() == pytest.approx(-1.0)

    tf = cdr_round_trip(store, factory.tf_message([
        factory.transform(11, 'map', 'odom', (1, 2, 0), (0, 0, 0, 1)),
        factory.transform(11, 'odom', 'base_footprint', (0.5, 0, 0), (0, 0, 0.7071068, 0.7071068)),
    ]))
    transforms = conv.transforms_from_tf(tf)
    assert [(t.parent_frame, t.child_frame) for t in transforms] == [
        ('map', 'odom'), ('odom', 'base_footprint')]
    matrix = transforms[1].matrix()
    np.testing.assert_allclose(matrix[:3, :3] @ [1, 0, 0], [0, 1, 0], atol=1e-6)
    again = conv.transform_from_msg(cdr_round_trip(store, conv.transform_to_msg(
        Transform(11, 'odom', 'base_footprint', np.array([0.5, 0, 0]),
                  np.array([0, 0, 0.7071068, 0.7071068])), types)))
    np.testing.assert_allclose(again.matrix(), matrix, atol=1e-6)


def test_malformed_poses(types):
    from ros2_infer.sim.messages import MessageFactory

    factory = MessageFactory()
    odom = factory.odometry(1, 'odom', 'base_footprint', 0, 0, 0, 0, 0)
    odom.pose.pose.orientation.w = 0.0
    with pytest.raises(MessageError, match='quaternion'):
        conv.pose_from_odometry(odom)
    odom = factory.odometry(1, 'odom', 'base_footprint', float('nan'), 0, 0, 0, 0)
    with pytest.raises(MessageError, match='finite'):
        conv.pose_from_odometry(odom)
    odom = factory.odometry(1, 'odom', 'base_footprint', 0, 0, 0, 0, 0)
    odom.pose.covariance = np.zeros(35)
    with pytest.raises(MessageError, match='36'):
        conv.pose_from_odometry(odom)
    tf = factory.tf_message([factory.transform(1, '', 'odom', (0, 0, 0), (0, 0, 0, 1))])
    with pytest.raises(MessageError, match='frame'):
        conv.transforms_from_tf(tf)


# ---- vision_msgs and markers -----------------------------------------------------------------
def test_detections_round_trip(types, store):
    dets = Detections(np.array([[10, 20, 110, 220], [0, 0, 5, 5]], np.float32),
                      np.array([0.9, 0.3], np.float32), np.array([1, 0]), ('pillar', 'wall'))
    vision = conv.VisionTypes(types)
    h = header(types, 123, 'cam')
    msg = cdr_round_trip(store, conv.detections_to_msg(dets, h, vision))
    assert conv.stamp_ns(msg.header) == 123 and msg.header.frame_id == 'cam'
    first = msg.detections[0]
    assert first.bbox.center.position.x == pytest.approx(60.0)
    assert first.bbox.center.position.y == pytest.approx(120.0)
    assert (first.bbox.size_x, first.bbox.size_y) == (100.0, 200.0)
    assert first.results[0].hypothesis.class_id == 'wall'
    assert first.results[0].hypothesis.score == pytest.approx(0.9)
    assert conv.stamp_ns(first.header) == 123
    back = conv.detections_from_msg(msg, ('pillar', 'wall'))
    np.testing.assert_allclose(back.boxes, dets.boxes)
    assert back.class_ids.tolist() == [1, 0]
    empty = conv.detections_to_msg(Detections.empty(('a',)), h, vision)
    assert len(cdr_round_trip(store, empty).detections) == 0


def test_old_vision_msgs_layout_is_duck_typed():
    """vision_msgs 3.x: geometry_msgs/Pose2D centre with x/y (no Point2D, no LabelInfo)."""
    from ros2_infer.rosbag.typestore import get_typestore

    mapping = {k: v for k, v in get_typestore().types.items()
               if k not in ('vision_msgs/msg/Point2D', 'vision_msgs/msg/LabelInfo')}
    vision = conv.VisionTypes(mapping)
    assert vision.label_info is None and vision.point2d is None
    dets = Detections(np.array([[0, 0, 4, 2]], np.float32), np.array([0.5], np.float32),
                      np.array([0]), ('a',))
    msg = conv.detections_to_msg(dets, header(mapping), vision)
    assert msg.detections[0].bbox.center.x == 2.0  # geometry_msgs/Pose2D
    assert conv.label_info_to_msg(['a'], header(mapping), vision) is None
    np.testing.assert_allclose(conv.detections_from_msg(msg).boxes, dets.boxes)


def test_negative_box_sizes_are_rejected(types):
    vision = conv.VisionTypes(types)
    dets = Detections(np.array([[0, 0, 4, 2]], np.float32), np.array([0.5], np.float32),
                      np.array([0]), ('a',))
    msg = conv.detections_to_msg(dets, header(types), vision)
    msg.detections[0].bbox.size_x = -1.0
    with pytest.raises(MessageError, match='negative'):
        conv.detections_from_msg(msg)


def test_label_info(types, store):
    vision = conv.VisionTypes(types)
    msg = cdr_round_trip(store, conv.label_info_to_msg(['pillar', 'wall'], header(types),
                                                       vision, 0.25))
    assert [(c.class_id, c.class_name) for c in msg.class_map] == [(0, 'pillar'), (1, 'wall')]
    assert msg.threshold == pytest.approx(0.25)


def test_objects_and_markers(types, store):
    cov = np.array([[4e-4, 1e-4, 0.0], [1e-4, 9e-4, 0.0], [0.0, 0.0, 0.01]])
    objects = [conv.Object3D('pillar', np.array([1.1, 0.0, 0.25]), np.array([0.3, 0.3, 0.5]),
                             0.8, id='3', covariance=cov),
               conv.Object3D('head', np.array([2.3, 0, 0.7]), np.array([1, 1, 1.4]))]
    vision = conv.VisionTypes(types)
    msg = cdr_round_trip(store, conv.objects_to_msg(objects, header(types, 1, 'map'), vision))
    # The position covariance is the x/y/z block of the hypothesis' 6x6 (row-major).
    sent = np.asarray(msg.detections[0].results[0].pose.covariance).reshape(6, 6)
    np.testing.assert_allclose(sent[:3, :3], cov)
    assert not np.any(sent[3:, :]) and not np.any(sent[:, 3:])
    back = conv.objects_from_msg(msg)
    assert [o.class_name for o in back] == ['pillar', 'head'] and back[0].id == '3'
    np.testing.assert_allclose(back[0].covariance, cov)
    assert back[1].covariance is None                      # unknown: zeros on the wire
    np.testing.assert_allclose(back[0].position, objects[0].position)
    np.testing.assert_allclose(back[1].size, objects[1].size)
    markers = cdr_round_trip(store, conv.objects_to_markers(objects, header(types, 1, 'map'),
                                                            types))
    assert len(markers.markers) == 5 and markers.markers[0].action == 3
    assert markers.markers[1].type == 3 and markers.markers[2].text == 'pillar 3'


def test_new_fills_rosbags_defaults(types):
    marker = new(types['visualization_msgs/msg/Marker'], ns='x')
    assert marker.ns == 'x' and marker.points == [] and marker.text == ''


def test_rclpy_style_classes_get_native_array_fields():
    """Classes without __msgtype__ take the rclpy branch: kwargs-free init, then setters."""
    def message_class(name, fields):
        def init(self):
            for field in fields:
                setattr(self, field, None)
        return type(name, (), {'__init__': init, 'get_fields_and_field_types': classmethod(
            lambda cls: dict.fromkeys(fields, 'x'))})

    types = {
        'builtin_interfaces/msg/Time': message_class('Time', ['sec', 'nanosec']),
        'std_msgs/msg/Header': message_class('Header', ['stamp', 'frame_id']),
        'sensor_msgs/msg/Image': message_class('Image', ['header', 'height', 'width',
                                                         'encoding', 'is_bigendian', 'step',
                                                         'data']),
        'sensor_msgs/msg/LaserScan': message_class('LaserScan', [
            'header', 'angle_min', 'angle_max', 'angle_increment', 'time_increment',
            'scan_time', 'range_min', 'range_max', 'ranges', 'intensities']),
    }
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    msg = conv.array_to_image(pixels, 'rgb8', conv.make_header(types, 5, 'c'), types)
    assert isinstance(msg.data, array.array) and msg.data.typecode == 'B'
    np.testing.assert_array_equal(conv.image_to_array(msg), pixels)
    scan = LaserScan(1, 'base_scan', 0.0, 0.1, 0.0, 0.1, 0.1, 4.0,
                     np.array([1.0, np.nan], np.float32))
    scan_msg = conv.scan_to_msg(scan, conv.make_header(types, 1, 'base_scan'), types)
    assert isinstance(scan_msg.ranges, array.array) and scan_msg.ranges.typecode == 'f'
    assert list(scan_msg.ranges)[1] == float('inf')
    assert np.isnan(conv.scan_from_msg(scan_msg).ranges[1])
