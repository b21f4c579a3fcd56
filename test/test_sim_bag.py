"""End-to-end tests of a simulated 60 s bag: rates, frames, latencies, lidar, ground truth."""

from collections import defaultdict
import math

import numpy as np
import pytest

from ros2_infer.rosbag import iter_messages
from ros2_infer.rosbag.writer import BagWriter
from ros2_infer.sim import timing
from ros2_infer.sim.messages import MessageFactory
from ros2_infer.sim.render import select_gl_backend
from ros2_infer.sim.simulator import SimConfig, simulate
# Imports torch (via the training package): importing torch for the first time after MuJoCo
# has an EGL context in this process segfaults in triton's import, so do it up front.
from ros2_infer.training.bag_dataset import has_visible_fractions, visible_fraction_kind

select_gl_backend()  # before anything imports mujoco

DURATION = 60.0
WIDTH, HEIGHT = 160, 120


def _ns(stamp):
    return stamp.sec * 1_000_000_000 + stamp.nanosec


@pytest.fixture(scope='module')
def bag(tmp_path_factory):
    out = tmp_path_factory.mktemp('sim60')
    config = SimConfig(duration=DURATION, seed=4, width=WIDTH, height=HEIGHT, progress=False)
    summary = simulate(config, out)
    msgs = defaultdict(list)
    for m in iter_messages(summary['bag']):
        msgs[m.topic].append(m)
    return {'summary': summary, 'msgs': msgs, 'out': out, 'config': config}


def _quat_matrix(q):
    x, y, z, w = q.x, q.y, q.z, q.w
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _static_chain(msgs, target):
    """4x4 transform base_footprint -> target from /tf_static."""
    tfs = {t.child_frame_id: t for t in msgs['/tf_static'][0].msg.transforms}
    mat = np.eye(4)
    frame = target
    while frame != 'base_footprint':
        t = tfs[frame]
        step = np.eye(4)
        step[:3, :3] = _quat_matrix(t.transform.rotation)
        tr = t.transform.translation
        step[:3, 3] = (tr.x, tr.y, tr.z)
        mat = step @ mat
        frame = t.header.frame_id
    return mat


def _gt_track(msgs):
    gt = msgs['/ground_truth/pose']
    t = np.array([_ns(m.msg.header.stamp) for m in gt]) * 1e-9
    x = np.array([m.msg.pose.pose.position.x for m in gt])
    y = np.array([m.msg.pose.pose.position.y for m in gt])
    yaw = np.unwrap([2 * math.atan2(m.msg.pose.pose.orientation.z,
                                    m.msg.pose.pose.orientation.w) for m in gt])
    return t, x, y, yaw


def _gt_at(track, t):
    tt, x, y, yaw = track
    return np.interp(t, tt, x), np.interp(t, tt, y), np.interp(t, tt, yaw)


def test_topics_rates_and_frames(bag):
    msgs = bag['msgs']
    expected = {  # topic: (rate Hz, frame_id, child frame or None)
        '/camera/image_raw': (30.0, 'camera_rgb_optical_frame', None),
        '/camera/camera_info': (30.0, 'camera_rgb_optical_frame', None),
        '/ground_truth/detections': (30.0, 'camera_rgb_optical_frame', None),
        '/scan': (5.0, 'base_scan', None),
        '/imu': (200.0, 'imu_link', None),
        '/odom': (30.0, 'odom', 'base_footprint'),
        '/joint_states': (30.0, '', None),
        '/ground_truth/pose': (50.0, 'map', 'base_footprint'),
        '/ground_truth/objects': (1.0, 'map', None),
    }
    for topic, (rate, frame, child) in expected.items():
        stamps = np.array([_ns(m.msg.header.stamp) for m in msgs[topic]]) * 1e-9
        assert len(stamps) > 0.95 * rate * DURATION, topic
        measured = (len(stamps) - 1) / (stamps.max() - stamps.min())
        assert measured == pytest.approx(rate, rel=0.02), topic
        assert {m.msg.header.frame_id for m in msgs[topic]} == {frame}, topic
        if child:
            assert {m.msg.child_frame_id for m in msgs[topic]} == {child}, topic
    clock = np.array([_ns(m.msg.clock) for m in msgs['/clock']]) * 1e-9
    assert (len(clock) - 1) / (clock[-1] - clock[0]) == pytest.approx(100.0, rel=0.02)
    tf = [t for m in msgs['/tf'] for t in m.msg.transforms]
    odom_tf = [_ns(t.header.stamp) for t in tf if t.child_frame_id == 'base_footprint']
    assert (len(odom_tf) - 1) / ((odom_tf[-1] - odom_tf[0]) * 1e-9) == pytest.approx(30, rel=0.02)
    assert {(t.header.frame_id, t.child_frame_id) for t in tf} == {
        ('odom', 'base_footprint'), ('map', 'odom')}
    assert len(msgs['/tf_static']) == 1
    static = {t.child_frame_id: t.header.frame_id for t in msgs['/tf_static'][0].msg.transforms}
    assert static['camera_rgb_optical_frame'] == 'camera_rgb_frame'
    assert static['base_scan'] == 'base_link' and static['base_link'] == 'base_footprint'
    scan = msgs['/scan'][0].msg
    assert len(scan.ranges) == 360 and scan.angle_min == 0.0
    assert scan.angle_increment == pytest.approx(0.017493)
    assert (scan.range_min, scan.range_max) == pytest.approx((0.12, 3.5))
    assert scan.scan_time == pytest.approx(0.2) and scan.time_increment > 0
    image = msgs['/camera/image_raw'][0].msg
    assert (image.width, image.height, image.encoding) == (WIDTH, HEIGHT, 'rgb8')
    info = msgs['/camera/camera_info'][0].msg
    fx = (WIDTH / 2) / math.tan(1.085595 / 2)
    assert info.k[0] == pytest.approx(fx) and info.k[4] == pytest.approx(fx)
    assert (info.k[2], info.k[5]) == ((WIDTH + 1) / 2, (HEIGHT + 1) / 2)


def test_log_times_follow_latencies_and_stamps_are_distinct(bag):
    msgs = bag['msgs']
    lat = timing.DEFAULT_TIMING
    gt_extra = timing.GROUND_TRUTH_EXTRA_LATENCY
    expected = {'/camera/image_raw': lat['camera'], '/scan': lat['scan'], '/imu': lat['imu'],
                '/odom': lat['odom'], '/ground_truth/pose': lat['ground_truth_pose'],
                '/amcl_pose': lat['slam']}
    for topic, tt in expected.items():
        delay = np.array([m.log_time_ns - _ns(m.msg.header.stamp) for m in msgs[topic]]) * 1e-9
        assert delay.min() >= tt.latency - 1e-9, topic
        assert delay.max() <= tt.latency + tt.latency_jitter + 1e-9, topic
    det_delay = np.array([m.log_time_ns - _ns(m.msg.header.stamp)
                          for m in msgs['/ground_truth/detections']]) * 1e-9
    assert det_delay.min() >= lat['camera'].latency + gt_extra - 1e-9
    # The bag is in arrival order, and that differs from stamp order.
    logs = [m.log_time_ns for topic in msgs for m in msgs[topic]]
    assert len(logs) == sum(bag['summary']['message_counts'].values())
    all_msgs = list(iter_messages(bag['summary']['bag'], raw=True))
    assert [m.log_time_ns for m in all_msgs] == sorted(m.log_time_ns for m in all_msgs)
    # Independent streams never share a stamp.
    primary = ['/camera/image_raw', '/scan', '/imu', '/odom', '/joint_states',
               '/ground_truth/pose']
    seen = set()
    for topic in primary:
        stamps = {_ns(m.msg.header.stamp) for m in msgs[topic]}
        assert not stamps & seen, topic
        seen |= stamps
    # The image, its camera_info and its ground truth share the image's stamp.
    assert [_ns(m.msg.header.stamp) for m in msgs['/camera/image_raw']] == [
        _ns(m.msg.header.stamp) for m in msgs['/ground_truth/detections']]


def _ray_circle(origin, direction, centre, radius):
    oc = origin - centre
    b = oc @ direction
    c = oc @ oc - radius * radius
    disc = b * b - c
    if disc < 0:
        return np.inf
    t = -b - math.sqrt(disc)
    return t if t > 0 else np.inf


def test_lidar_matches_pillars_within_3_sigma(bag):
    msgs = bag['msgs']
    from ros2_infer.core.landmark_map import load_landmark_map

    _, landmarks = load_landmark_map(bag['out'] / 'landmarks.yaml')
    pillars = [lm for lm in landmarks if lm.class_name == 'pillar']
    others = [lm for lm in landmarks if lm.class_name != 'pillar' and lm.size[2] > 0.132]
    track = _gt_track(msgs)
    scan_tf = _static_chain(msgs, 'base_scan')
    errors = []
    for m in msgs['/scan']:
        scan = m.msg
        x, y, yaw = _gt_at(track, _ns(scan.header.stamp) * 1e-9)
        c, s = math.cos(yaw), math.sin(yaw)
        origin = np.array([x + c * scan_tf[0, 3] - s * scan_tf[1, 3],
                           y + s * scan_tf[0, 3] + c * scan_tf[1, 3]])
        for i in range(0, 360):
            ang = yaw + scan.angle_min + i * scan.angle_increment
            d = np.array([math.cos(ang), math.sin(ang)])
            hits = [_ray_circle(origin, d, np.array(p.position[:2]), 0.15) for p in pillars]
            best = min(hits)
            if not 0.3 < best < 3.3:
                continue
            # Skip beams that may hit an object, or graze a pillar's edge.
            if any(_ray_circle(origin, d, np.array(o.position[:2]),
                               0.5 * math.hypot(o.size[0], o.size[1])) < best + 0.05
                   for o in others):
                continue
            centre = np.array(pillars[int(np.argmin(hits))].position[:2])
            rel = centre - origin
            if abs(d[0] * rel[1] - d[1] * rel[0]) > 0.12:
                continue
            errors.append(scan.ranges[i] - best)
    errors = np.array(errors)
    assert len(errors) > 300
    assert np.isfinite(errors).all()
    assert np.mean(np.abs(errors) < 0.03) > 0.99
    assert np.abs(errors).max() < 0.06
    assert abs(errors.mean()) < 0.005


def test_gt_centres_project_into_gt_boxes(bag):
    msgs = bag['msgs']
    from ros2_infer.core.landmark_map import load_landmark_map

    _, landmarks = load_landmark_map(bag['out'] / 'landmarks.yaml')
    by_id = {str(lm.id): lm for lm in landmarks}
    track = _gt_track(msgs)
    cam_tf = _static_chain(msgs, 'camera_rgb_optical_frame')
    info = msgs['/camera/camera_info'][0].msg
    fx, fy, cx, cy = info.k[0], info.k[4], info.k[2], info.k[5]
    checked = 0
    classes = set()
    for m in msgs['/ground_truth/detections']:
        x, y, yaw = _gt_at(track, _ns(m.msg.header.stamp) * 1e-9)
        base = np.eye(4)
        base[:2, :2] = [[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]]
        base[:2, 3] = (x, y)
        world_cam = base @ cam_tf
        cam_world = np.linalg.inv(world_cam)
        for det in m.msg.detections:
            lm = by_id[det.id]
            assert det.results[0].hypothesis.class_id == lm.class_name
            b = det.bbox
            x0, x1 = b.center.position.x - b.size_x / 2, b.center.position.x + b.size_x / 2
            y0, y1 = b.center.position.y - b.size_y / 2, b.center.position.y + b.size_y / 2
            # Unoccluded extent: projection of the 3D box corners.
            corners = np.array([[sx * lm.size[0] / 2, sy * lm.size[1] / 2, sz * lm.size[2] / 2]
                                for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
            rot = np.array([[math.cos(lm.yaw), -math.sin(lm.yaw), 0],
                            [math.sin(lm.yaw), math.cos(lm.yaw), 0], [0, 0, 1]])
            pts = corners @ rot.T + np.array(lm.position)
            pc = (cam_world[:3, :3] @ pts.T).T + cam_world[:3, 3]
            if (pc[:, 2] < 0.05).any():
                continue
            u = fx * pc[:, 0] / pc[:, 2] + cx
            v = fy * pc[:, 1] / pc[:, 2] + cy
            full_w, full_h = u.max() - u.min(), v.max() - v.min()
            touches = x0 <= 1 or y0 <= 1 or x1 >= WIDTH - 2 or y1 >= HEIGHT - 2
            if touches or b.size_x < 0.6 * full_w or b.size_y < 0.6 * full_h:
                continue  # truncated or occluded: its visible box need not hold the centre
            centre = cam_world[:3, :3] @ np.array(lm.position) + cam_world[:3, 3]
            uc = fx * centre[0] / centre[2] + cx
            vc = fy * centre[1] / centre[2] + cy
            assert x0 - 1.5 <= uc <= x1 + 1.5 and y0 - 1.5 <= vc <= y1 + 1.5, (det.id, uc, vc)
            checked += 1
            classes.add(lm.class_name)
    assert checked > 100
    assert len(classes) >= 4


def test_gt_scores_are_visible_fractions(bag):
    # The ground-truth score is the share of the object's pixels nothing hides: 1 for most
    # boxes, lower for objects behind pillars, never 0 (a box has visible pixels).
    scores = np.array([det.results[0].hypothesis.score
                       for m in bag['msgs']['/ground_truth/detections']
                       for det in m.msg.detections])
    assert len(scores) > 100
    assert ((scores > 0) & (scores <= 1)).all()
    assert np.mean(scores == 1.0) > 0.3
    assert np.mean(scores < 0.9) > 0.02


def test_gt_scores_count_the_part_outside_the_image_as_not_visible(bag):
    # As CityPersons' visibility ratio: an object the image border cuts is only partly seen,
    # so boxes at the left or right border score lower than those wholly inside the image.
    width = bag['config'].width
    at_border, inside = [], []
    for m in bag['msgs']['/ground_truth/detections']:
        for det in m.msg.detections:
            center, half = det.bbox.center.position.x + 0.5, det.bbox.size_x / 2
            touching = center - half <= 1.0 or center + half >= width - 1.0
            (at_border if touching else inside).append(det.results[0].hypothesis.score)
    at_border, inside = np.array(at_border), np.array(inside)
    assert len(at_border) > 30 and len(inside) > 30
    assert np.median(at_border) < 0.8 < np.median(inside)
    assert np.mean(at_border < 0.5) > 0.2


def test_bags_without_visible_fractions_are_told_apart(bag, tmp_path):
    # Bags simulated before the scores were visible fractions have 1.0 everywhere, and those
    # simulated before the fraction counted the part outside the image score border boxes 1.0:
    # the evaluation must notice (and say so) rather than silently apply another protocol.
    assert has_visible_fractions([bag['summary']['bag']])
    assert visible_fraction_kind([bag['summary']['bag']]) == 'whole_object'
    factory = MessageFactory()

    def write(name, boxes):
        path = tmp_path / name
        with BagWriter(path) as writer:
            writer.add_topic('/camera/camera_info', 'sensor_msgs/msg/CameraInfo')
            writer.add_topic('/ground_truth/detections', 'vision_msgs/msg/Detection2DArray')
            for k in range(25):
                stamp = k * 10**8
                writer.write('/camera/camera_info', factory.camera_info(
                    stamp, 'camera_rgb_optical_frame', 640, 480, 500.0, 500.0, 320.0, 240.0),
                    stamp)
                writer.write('/ground_truth/detections', factory.detection2d_array(
                    stamp, 'camera_rgb_optical_frame', boxes), stamp)
        return path

    # (id, class, cx, cy, w, h, score): a box in the middle, one cut by the left border.
    unscored = write('unscored', [(1, 'pillar', 320.0, 200.0, 40.0, 80.0),
                                  (2, 'pillar', 9.5, 200.0, 20.0, 80.0)])
    in_image = write('in_image', [(1, 'pillar', 320.0, 200.0, 40.0, 80.0, 0.6),
                                  (2, 'pillar', 9.5, 200.0, 20.0, 80.0, 1.0)])
    whole = write('whole', [(1, 'pillar', 320.0, 200.0, 40.0, 80.0, 0.6),
                            (2, 'pillar', 9.5, 200.0, 20.0, 80.0, 0.3)])
    assert not has_visible_fractions([unscored])
    assert visible_fraction_kind([unscored]) == 'none'
    assert visible_fraction_kind([in_image]) == 'in_image'
    assert visible_fraction_kind([whole]) == 'whole_object'


def test_odometry_drifts_and_slam_is_accurate(bag):
    msgs = bag['msgs']
    track = _gt_track(msgs)
    spawn = bag['summary']['spawn']

    def ate(stamps, xs, ys):
        gx, gy, _ = _gt_at(track, np.array(stamps))
        return float(np.sqrt(np.mean((np.array(xs) - gx) ** 2 + (np.array(ys) - gy) ** 2)))

    odom = msgs['/odom']
    t = [_ns(m.msg.header.stamp) * 1e-9 for m in odom]
    c, s = math.cos(spawn[2]), math.sin(spawn[2])
    ox = [spawn[0] + c * m.msg.pose.pose.position.x - s * m.msg.pose.pose.position.y
          for m in odom]
    oy = [spawn[1] + s * m.msg.pose.pose.position.x + c * m.msg.pose.pose.position.y
          for m in odom]
    odom_ate = ate(t, ox, oy)
    assert 0.003 < odom_ate < 0.5
    amcl = msgs['/amcl_pose']
    assert len(amcl) >= 10
    slam_ate = ate([_ns(m.msg.header.stamp) * 1e-9 for m in amcl],
                   [m.msg.pose.pose.position.x for m in amcl],
                   [m.msg.pose.pose.position.y for m in amcl])
    assert 0.01 < slam_ate < 0.2
    cov = np.array(amcl[0].msg.pose.covariance)
    nonzero = set(np.nonzero(cov)[0])
    assert nonzero <= {0, 1, 6, 7, 35} and {0, 7, 35} <= nonzero
    # Published only after 0.25 m or 0.2 rad of (odometry) motion.
    for a, b in zip(amcl[:-1], amcl[1:]):
        ta, tb = _ns(a.msg.header.stamp), _ns(b.msg.header.stamp)
        oa = min(odom, key=lambda m: abs(_ns(m.msg.header.stamp) - ta)).msg.pose.pose
        ob = min(odom, key=lambda m: abs(_ns(m.msg.header.stamp) - tb)).msg.pose.pose
        moved = math.hypot(ob.position.x - oa.position.x, ob.position.y - oa.position.y)
        turned = abs(2 * math.atan2(ob.orientation.z, ob.orientation.w)
                     - 2 * math.atan2(oa.orientation.z, oa.orientation.w))
        assert moved > 0.24 - 0.02 or min(turned, 2 * math.pi - turned) > 0.19


def test_bag_readable_by_mcap_ros2_reader(bag):
    from mcap_ros2.reader import read_ros2_messages

    path = next((bag['out'] / 'bag').glob('*.mcap'))
    counts = defaultdict(int)
    for msg in read_ros2_messages(str(path), topics=['/ground_truth/detections',
                                                     '/ground_truth/objects', '/tf_static']):
        counts[msg.channel.topic] += 1
        if msg.channel.topic == '/ground_truth/objects':
            assert {d.results[0].hypothesis.class_id for d in msg.ros_msg.detections} >= {
                'pillar'}
    assert counts['/ground_truth/detections'] == len(bag['msgs']['/ground_truth/detections'])
    assert counts['/tf_static'] == 1
