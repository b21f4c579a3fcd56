"""
Run the TurtleBot3 simulation and record everything to a rosbag2 plus a landmark map.

The ground-truth trajectory, odometry and SLAM error processes are computed up front (numpy);
then every sensor stamp is processed in stamp order: MuJoCo ray casting for /scan, off-screen
rendering for the camera and its segmentation ground truth. Each message is written with log
time = stamp + its topic latency, through a reordering writer, so the bag is in arrival order.
"""

from dataclasses import asdict, dataclass, field, replace
import math
from pathlib import Path
import time

import numpy as np

from ros2_infer.core.errors import InputError
from ros2_infer.core.landmark_map import save_landmark_map
from ros2_infer.sim import driver, slam, timing, world
from ros2_infer.sim.appearance import APPEARANCE_SETS, make_appearance
from ros2_infer.sim.messages import MessageFactory, rpy_quat, TYPE_NAMES, yaw_quat
from ros2_infer.sim.odometry import GRAVITY, interp_pose, OdomErrorModel, simulate_odometry
from ros2_infer.sim.robot import get_robot
import yaml

HFOV = 1.085595  # rad, turtlebot3_gazebo Waffle Pi camera
SCAN_BEAMS = 360
SCAN_INCREMENT = 0.017493  # rad (Gazebo's 2*pi/359.2)
SCAN_RANGE = (0.12, 3.5)
SCAN_SIGMA = 0.01
OPTICAL_FRAME = 'camera_rgb_optical_frame'
# Independent random streams: changing one option never changes another stream's draws.
STREAMS = {'layout': 1, 'appearance': 2, 'driver': 3, 'odom': 4, 'slam': 5, 'timing': 6,
           'scan': 7, 'camera': 8, 'imu': 9}


@dataclass
class SimConfig:
    """Every option of a simulation run (CLI flags map one-to-one)."""

    world: str = 'turtlebot3_world'
    duration: float = 180.0
    seed: int = 1
    # Seed of the sensor-noise streams (odometry, SLAM, timing, scan, camera, IMU); None: seed.
    # Another noise seed is another run of the same layout and drive, with its own errors.
    noise_seed: int | None = None
    robot: str = 'waffle_pi'
    width: int = 640
    height: int = 480
    camera_rate: float = 30.0
    scan_rate: float = 5.0
    slam_style: str = 'amcl'
    slam_profile: str | None = None  # default: the style's own profile
    slam_latency: float | None = None  # default: the profile's (0.150 s)
    compressed: bool = False
    jpeg_quality: int = 90
    depth: bool = False
    randomize: bool = False
    appearance_set: str = 'train'
    kidnap_time: float | None = None
    num_objects: int = 8
    storage: str = 'mcap'
    seg_scale: int = 2
    joint_states: bool = True
    progress: bool = True
    odom_model: OdomErrorModel = field(default_factory=OdomErrorModel)

    @property
    def noise_seed_or_seed(self) -> int:
        """Return the seed of the sensor-noise streams."""
        return self.seed if self.noise_seed is None else self.noise_seed

    def validate(self) -> None:
        """Raise InputError on an impossible combination."""
        if self.world not in world.WORLDS:
            raise InputError(f'unknown world {self.world!r}; expected one of {world.WORLDS}')
        if not self.duration > 0:
            raise InputError(f'duration must be > 0 s, got {self.duration}')
        if self.width < 16 or self.height < 16 or self.width % self.seg_scale \
                or self.height % self.seg_scale:
            raise InputError(f'camera size {self.width}x{self.height} must be >= 16 and a '
                             f'multiple of the segmentation scale {self.seg_scale}')
        if not 0 < self.camera_rate <= 120 or not 0 < self.scan_rate <= 50:
            raise InputError('camera rate must be in (0, 120] Hz and scan rate in (0, 50] Hz')
        if self.slam_style not in slam.SLAM_STYLES:
            raise InputError(f'unknown SLAM style {self.slam_style!r}; '
                             f'expected one of {slam.SLAM_STYLES}')
        if self.appearance_set not in APPEARANCE_SETS:
            raise InputError(f'unknown appearance set {self.appearance_set!r}')
        if self.kidnap_time is not None and not 0 < self.kidnap_time < self.duration:
            raise InputError(f'kidnap time must lie inside (0, {self.duration}) s')
        if not 1 <= self.jpeg_quality <= 100:
            raise InputError('jpeg quality must be in 1..100')
        get_robot(self.robot)
        slam.get_profile(self.slam_profile or slam.DEFAULT_PROFILE[self.slam_style])


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), STREAMS[stream]])


def _compose(a, b):
    """SE(2) composition a * b of (x, y, yaw) tuples."""
    c, s = math.cos(a[2]), math.sin(a[2])
    return (a[0] + c * b[0] - s * b[1], a[1] + s * b[0] + c * b[1], a[2] + b[2])


def _inverse(a):
    c, s = math.cos(a[2]), math.sin(a[2])
    return (-c * a[0] - s * a[1], s * a[0] - c * a[1], -a[2])


def build_scene(config: SimConfig):
    """Return ``(landmarks, appearance, mjcf_xml)`` of the run (no MuJoCo import)."""
    from ros2_infer.sim.mjcf import build_mjcf

    robot = get_robot(config.robot)
    landmarks = world.world_landmarks(_rng(config.seed, 'layout'), config.num_objects)
    slots = []
    for lm in landmarks:
        for role in ('primary', 'secondary'):
            slots.append((f'{lm.id}/{role}', lm.class_name, role))
    appearance = make_appearance(_rng(config.seed, 'appearance'), slots, config.randomize,
                                 config.appearance_set)
    xml = build_mjcf(landmarks, appearance, robot, hfov=HFOV, width=config.width,
                     height=config.height)
    return landmarks, appearance, xml


def camera_intrinsics(width: int, height: int):
    """Return Gazebo's (fx, fy, cx, cy) for the Waffle Pi camera at this image size."""
    fx = (width / 2.0) / math.tan(HFOV / 2.0)
    return fx, fx, (width + 1) / 2.0, (height + 1) / 2.0


def simulate(config: SimConfig, out_dir) -> dict[str, object]:
    """
    Run the simulation and write ``out_dir/bag`` (rosbag2) and ``out_dir/landmarks.yaml``.

    :return: a summary (paths, message counts, wall time, simulated/wall time ratio).
    """
    config.validate()
    out_dir = Path(out_dir)
    bag_path = out_dir / 'bag'
    if bag_path.exists():
        raise InputError(f'{bag_path} exists already; choose another --out or remove it')
    from ros2_infer.sim.render import select_gl_backend

    robot = get_robot(config.robot)
    has_camera = robot.has_camera
    if has_camera:
        backend = select_gl_backend()
    else:
        backend = 'none'
    import mujoco

    from ros2_infer.rosbag.writer import BagWriter, QOS_DEFAULT, QOS_SENSOR, QOS_TRANSIENT_LOCAL

    wall_start = time.perf_counter()
    landmarks, appearance, xml = build_scene(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_landmark_map(out_dir / 'landmarks.yaml', landmarks, frame_id='map')
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    robot_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, 'robot')

    dur = float(config.duration)
    traj = driver.drive(robot, dur + 0.1, rng=_rng(config.seed, 'driver'),
                        kidnap_time=config.kidnap_time)
    odom_model = config.odom_model
    odom = simulate_odometry(traj, robot, odom_model, _rng(config.noise_seed_or_seed, 'odom'))
    profile = slam.get_profile(config.slam_profile or slam.DEFAULT_PROFILE[config.slam_style],
                               config.slam_latency)
    slam_rng = _rng(config.noise_seed_or_seed, 'slam')
    slam_err = slam.SlamErrorProcess(profile, dur + 1.0, slam_rng)
    slam_cov = slam.covariance(profile)

    # ---- stamps of every stream ------------------------------------------------------------
    trng = _rng(config.noise_seed_or_seed, 'timing')
    tim = dict(timing.DEFAULT_TIMING)
    tim['camera'] = replace(tim['camera'], rate=config.camera_rate)
    tim['scan'] = replace(tim['scan'], rate=config.scan_rate)
    registry = timing.StampRegistry()
    streams = ['clock', 'imu', 'odom', 'ground_truth_pose', 'scan', 'ground_truth_objects']
    if config.joint_states:
        streams.append('joint_states')
    if has_camera:
        streams.append('camera')
    if config.slam_style == 'cartographer':
        tim['cartographer'] = timing.TopicTiming(slam.CARTOGRAPHER_RATE, 0.0005,
                                                 profile.latency, 0.02)
        streams.append('cartographer')
    stamp_lists = {}
    for name in streams:
        phase = 0.0 if name == 'clock' else None
        st = timing.stamps(tim[name], dur, trng, phase=phase)
        stamp_lists[name] = st if name == 'clock' else registry.take(st)
    lat_lists = {name: timing.latencies(tim[name], len(st), trng)
                 for name, st in stamp_lists.items()}
    slam_lat = timing.latencies(timing.TopicTiming(1, 0, profile.latency, 0.02),
                                len(stamp_lists['scan']), trng)
    order_names = list(stamp_lists)
    all_st = np.concatenate([stamp_lists[n] for n in order_names])
    all_kind = np.concatenate([np.full(len(stamp_lists[n]), i) for i, n in
                               enumerate(order_names)])
    all_idx = np.concatenate([np.arange(len(stamp_lists[n])) for n in order_names])
    order = np.lexsort((all_kind, all_st))

    # ---- bag topics ----------------------------------------------------------------------------
    factory = MessageFactory()
    max_latency = max([t.latency + t.latency_jitter for t in tim.values()]
                      + [profile.latency + 0.02]) + timing.GROUND_TRUTH_EXTRA_LATENCY
    writer = BagWriter(bag_path, storage=config.storage,
                       reorder_window_ns=int((max_latency + 0.05) * 1e9))
    writer.open()
    topics = {'/clock': ('clock', QOS_DEFAULT), '/tf': ('tf', QOS_DEFAULT),
              '/tf_static': ('tf', QOS_TRANSIENT_LOCAL), '/odom': ('odom', QOS_DEFAULT),
              '/imu': ('imu', QOS_SENSOR), '/scan': ('scan', QOS_SENSOR),
              '/ground_truth/pose': ('odom', QOS_DEFAULT),
              '/ground_truth/objects': ('det3d', QOS_DEFAULT)}
    if config.joint_states:
        topics['/joint_states'] = ('joint_states', QOS_DEFAULT)
    image_topic = '/camera/image_raw/compressed' if config.compressed else '/camera/image_raw'
    if has_camera:
        topics[image_topic] = ('compressed' if config.compressed else 'image', QOS_SENSOR)
        topics['/camera/camera_info'] = ('camera_info', QOS_SENSOR)
        topics['/ground_truth/detections'] = ('det2d', QOS_DEFAULT)
        if config.depth:
            topics['/ground_truth/depth'] = ('image', QOS_SENSOR)
    slam_topic = {'amcl': '/amcl_pose', 'slam_toolbox': '/pose'}.get(config.slam_style)
    if slam_topic:
        topics[slam_topic] = ('pose_cov', QOS_TRANSIENT_LOCAL if config.slam_style == 'amcl'
                              else QOS_DEFAULT)
    for topic, (kind, qos) in topics.items():
        writer.add_topic(topic, TYPE_NAMES[kind], qos=qos)

    # ---- static TF ---------------------------------------------------------------------------
    static = [factory.transform(0, tf.parent, tf.child, tf.xyz, rpy_quat(*tf.rpy))
              for tf in robot.static_tfs]
    writer.write('/tf_static', factory.tf_message(static), 0)

    # ---- sensors -------------------------------------------------------------------------------
    scan_xyz = robot.chain_xyz('base_scan')
    beam_angles = np.arange(SCAN_BEAMS) * SCAN_INCREMENT
    ray_vec = np.zeros((SCAN_BEAMS, 3))
    ray_geom = np.zeros(SCAN_BEAMS, np.int32)
    ray_dist = np.zeros(SCAN_BEAMS)
    geomgroup = np.array([1, 1, 0, 0, 0, 0], np.uint8)  # world + landmarks, not the robot
    scan_rng = _rng(config.noise_seed_or_seed, 'scan')
    imu_rng = _rng(config.noise_seed_or_seed, 'imu')
    cam = None
    if has_camera:
        from ros2_infer.sim.render import boxes_from_labels, CameraRenderer, NoiseBank

        cam = CameraRenderer(model, config.width, config.height, seg_scale=config.seg_scale,
                             depth=config.depth)
        noise = NoiseBank((config.height, config.width, 3), appearance.camera_noise,
                          _rng(config.noise_seed_or_seed, 'camera'))
        image_buf = np.empty((config.height, config.width, 3), np.uint8)
        fx, fy, cx, cy = camera_intrinsics(config.width, config.height)
        label_of_geom = np.full(model.ngeom + 1, -1, np.int64)
        lm_index = {f'lm{lm.id}': i for i, lm in enumerate(landmarks)}
        for g in range(model.ngeom):
            name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or ''
            key = name.split('_')[0]
            if key in lm_index:
                label_of_geom[g + 1] = lm_index[key]
        geoms_of_label = [np.nonzero(label_of_geom[1:] == li)[0] for li in range(len(landmarks))]
        min_pixels = max(1, math.ceil(25 / config.seg_scale ** 2))
    wheel_r = robot.wheel_radius
    half_sep = robot.wheel_separation / 2
    wheel_left = np.concatenate([[0.0], np.cumsum((traj.v - traj.w * half_sep) * traj.dt)])
    wheel_right = np.concatenate([[0.0], np.cumsum((traj.v + traj.w * half_sep) * traj.dt)])
    spawn = (traj.x[0], traj.y[0], traj.yaw[0])  # map->odom origin
    last_slam_odom = None
    carto_m2o = None           # the cartographer-style estimate of the latest scan

    def set_robot(t: float):
        x, y, yaw = traj.pose_at(t)
        data.mocap_pos[0] = (x, y, 0.0)
        data.mocap_quat[0] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))
        mujoco.mj_kinematics(model, data)
        mujoco.mj_camlight(model, data)
        return x, y, yaw

    def odom_at(t: float):
        ox, oy, oyaw = interp_pose(odom.x, odom.y, odom.yaw, traj.dt, t)
        return ox, oy, oyaw

    progress = None
    if config.progress:
        from tqdm import tqdm

        progress = tqdm(total=round(dur, 1), unit='sim s', desc='sim', leave=False)
    last_progress = 0.0
    counts = {}
    try:
        for j in order:
            kind = order_names[all_kind[j]]
            i = int(all_idx[j])
            st = int(stamp_lists[kind][i])
            log = st + int(lat_lists[kind][i])
            t = st * 1e-9
            k = min(int(t / traj.dt), len(traj.x) - 1)
            if kind == 'clock':
                writer.write('/clock', factory.clock(st), log)
            elif kind == 'imu':
                yaw_imu = float(np.interp(t, np.arange(len(odom.imu_yaw)) * traj.dt,
                                          odom.imu_yaw))
                v, w = traj.twist_at(t)
                acc_x = (traj.v[k] - traj.v[k - 1]) / traj.dt if k > 0 else 0.0
                an = imu_rng.normal(0.0, odom_model.accel_sigma, 3)
                gz = w + odom.gyro_bias[k] + imu_rng.normal(0.0, odom_model.gyro_sigma)
                writer.write('/imu', factory.imu(
                    st, 'imu_link', yaw_imu, gz, (acc_x + an[0], v * w + an[1],
                                                  GRAVITY + an[2]),
                    odom_model.gyro_sigma ** 2, odom_model.accel_sigma ** 2), log)
            elif kind == 'odom':
                ox, oy, oyaw = odom_at(t)
                writer.write('/odom', factory.odometry(
                    st, 'odom', 'base_footprint', ox, oy, oyaw, odom.v[k], odom.w[k]), log)
                writer.write('/tf', factory.tf_message([factory.transform(
                    st, 'odom', 'base_footprint', (ox, oy, 0.0), yaw_quat(oyaw))]), log)
            elif kind == 'joint_states':
                pos = [wheel_left[k] / wheel_r, wheel_right[k] / wheel_r]
                vel = [(traj.v[k] - traj.w[k] * half_sep) / wheel_r,
                       (traj.v[k] + traj.w[k] * half_sep) / wheel_r]
                writer.write('/joint_states', factory.joint_state(
                    st, ['wheel_left_joint', 'wheel_right_joint'], pos, vel), log)
            elif kind == 'ground_truth_pose':
                x, y, yaw = traj.pose_at(t)
                v, w = traj.twist_at(t)
                writer.write('/ground_truth/pose', factory.odometry(
                    st, 'map', 'base_footprint', x, y, yaw, v, w), log)
            elif kind == 'ground_truth_objects':
                writer.write('/ground_truth/objects',
                             factory.detection3d_array(st, 'map', landmarks), log)
            elif kind == 'scan':
                x, y, yaw = set_robot(t)
                c, s = math.cos(yaw), math.sin(yaw)
                origin = np.array([x + c * scan_xyz[0] - s * scan_xyz[1],
                                   y + s * scan_xyz[0] + c * scan_xyz[1], scan_xyz[2]])
                ray_vec[:, 0] = np.cos(beam_angles + yaw)
                ray_vec[:, 1] = np.sin(beam_angles + yaw)
                mujoco.mj_multiRay(model, data, origin, ray_vec.reshape(-1), geomgroup, 1,
                                   robot_body, ray_geom, ray_dist, None, SCAN_BEAMS,
                                   SCAN_RANGE[1] + 1.0)
                ranges = ray_dist + scan_rng.normal(0.0, SCAN_SIGMA, SCAN_BEAMS)
                bad = (ray_dist < 0) | (ranges > SCAN_RANGE[1]) | (ranges < SCAN_RANGE[0])
                ranges[bad] = np.inf
                writer.write('/scan', factory.laser_scan(
                    st, 'base_scan', ranges, SCAN_INCREMENT, SCAN_RANGE[0], SCAN_RANGE[1],
                    1.0 / config.scan_rate), log)
                if config.slam_style == 'cartographer' and slam_err.active(t):
                    # Cartographer matches each scan and then publishes map->odom every 5 ms
                    # from that estimate until the next scan.
                    x, y, yaw = traj.pose_at(t)
                    e = slam_err.error(t)
                    carto_m2o = _compose((x + e[0], y + e[1], yaw + e[2]), _inverse(odom_at(t)))
                if slam_topic and slam_err.active(t):
                    o = odom_at(t)
                    thr_d, thr_a = slam.PUBLISH_THRESHOLDS[config.slam_style]
                    moved = last_slam_odom is None or math.hypot(
                        o[0] - last_slam_odom[0], o[1] - last_slam_odom[1]) >= thr_d or abs(
                        (o[2] - last_slam_odom[2] + math.pi) % (2 * math.pi) - math.pi) >= thr_a
                    if moved:
                        last_slam_odom = o
                        slog = st + int(slam_lat[i])
                        e = slam_err.error(t)
                        est = (x + e[0], y + e[1], yaw + e[2])
                        writer.write(slam_topic, factory.pose_with_covariance(
                            st, 'map', *est, slam_cov), slog)
                        m2o = _compose(est, _inverse(o))
                        writer.write('/tf', factory.tf_message([factory.transform(
                            st, 'map', 'odom', (m2o[0], m2o[1], 0.0), yaw_quat(m2o[2]))]),
                            slog)
            elif kind == 'cartographer':
                if slam_err.active(t) and carto_m2o is not None:
                    m2o = carto_m2o
                    writer.write('/tf', factory.tf_message([factory.transform(
                        st, 'map', 'odom', (m2o[0], m2o[1], 0.0), yaw_quat(m2o[2]))]), log)
            elif kind == 'camera':
                set_robot(t)
                rgb = cam.render_rgb(data)
                noisy = noise.apply(rgb, image_buf)
                if config.compressed:
                    import cv2

                    ok, jpg = cv2.imencode('.jpg', cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR),
                                           [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])
                    writer.write(image_topic, factory.compressed_image(
                        st, OPTICAL_FRAME, jpg.reshape(-1), 'rgb8; jpeg compressed bgr8'), log)
                else:
                    writer.write(image_topic, factory.image(st, OPTICAL_FRAME, noisy, 'rgb8'),
                                 log)
                writer.write('/camera/camera_info', factory.camera_info(
                    st, OPTICAL_FRAME, config.width, config.height, fx, fy, cx, cy), log)
                labels = label_of_geom[cam.render_segmentation(data) + 1]
                boxes = []
                seen = boxes_from_labels(labels, len(landmarks), config.seg_scale, min_pixels)
                alone = cam.unoccluded_pixel_counts(data, [geoms_of_label[li]
                                                           for li, *_ in seen])
                for (li, x0, y0, x1, y1, pixels), whole in zip(seen, alone):
                    lm = landmarks[li]
                    # The score of a ground-truth box is its visible fraction: the share of
                    # the object's pixels, in the image or beyond its border, that are seen.
                    boxes.append((lm.id, lm.class_name, (x0 + x1) / 2 - 0.5,
                                  (y0 + y1) / 2 - 0.5, x1 - x0, y1 - y0,
                                  round(min(1.0, pixels / max(whole, pixels)), 3)))
                gt_log = log + int(timing.GROUND_TRUTH_EXTRA_LATENCY * 1e9)
                writer.write('/ground_truth/detections',
                             factory.detection2d_array(st, OPTICAL_FRAME, boxes), gt_log)
                if config.depth:
                    depth = cam.render_depth(data)
                    writer.write('/ground_truth/depth',
                                 factory.image(st, OPTICAL_FRAME, depth, '32FC1'), gt_log)
            if progress is not None and t - last_progress >= 0.5:
                progress.update(round(t - last_progress, 1))
                last_progress = round(t, 1)
    finally:
        writer.close()
        if cam is not None:
            cam.close()
        if progress is not None:
            progress.close()
    counts = dict(writer.counts)
    wall = time.perf_counter() - wall_start
    summary = {
        'bag': str(bag_path), 'landmarks': str(out_dir / 'landmarks.yaml'),
        'storage': config.storage, 'gl_backend': backend, 'duration_s': dur,
        'wall_s': round(wall, 3), 'realtime_ratio': round(dur / wall, 3),
        'message_counts': counts, 'spawn': [float(v) for v in spawn],
        'slam_profile': profile.as_dict(), 'odom_model': odom_model.as_dict(),
        'appearance': {'randomize': config.randomize, 'set': config.appearance_set,
                       'camera_noise': appearance.camera_noise},
        'kidnap_time': config.kidnap_time,
    }
    cfg = asdict(config)
    cfg.pop('odom_model')
    (out_dir / 'sim_info.yaml').write_text(yaml.safe_dump({'config': cfg, 'summary': summary},
                                                          sort_keys=False), encoding='utf-8')
    return summary
