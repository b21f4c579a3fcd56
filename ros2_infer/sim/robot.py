"""TurtleBot3 robot models (Waffle Pi, Burger): dimensions, limits and the URDF TF chain."""

from dataclasses import dataclass

from ros2_infer.core.errors import InputError

Xyz = tuple[float, float, float]
Rpy = tuple[float, float, float]


@dataclass(frozen=True)
class StaticTf:
    """A fixed transform parent -> child (translation xyz, rotation roll-pitch-yaw)."""

    parent: str
    child: str
    xyz: Xyz
    rpy: Rpy = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class RobotSpec:
    """What the simulator needs to know about one TurtleBot3 model (TURTLEBOT3.md)."""

    name: str
    wheel_radius: float
    wheel_separation: float
    box_size: Xyz  # collision box of base_link
    box_center: Xyz  # its centre in base_link
    max_v: float
    max_w: float
    static_tfs: tuple[StaticTf, ...]
    has_camera: bool

    def tf(self, child: str) -> StaticTf:
        """Return the static transform whose child frame is ``child``."""
        for tf in self.static_tfs:
            if tf.child == child:
                return tf
        raise KeyError(child)

    def chain_xyz(self, frame: str) -> Xyz:
        """Return the translation base_footprint -> ``frame`` (all chain rotations are zero)."""
        x = y = z = 0.0
        while frame != 'base_footprint':
            tf = self.tf(frame)
            x, y, z = x + tf.xyz[0], y + tf.xyz[1], z + tf.xyz[2]
            frame = tf.parent
        return (x, y, z)

    @property
    def lidar_height(self) -> float:
        """Height of the lidar plane above the floor (m)."""
        return self.chain_xyz('base_scan')[2]

    @property
    def footprint_corners(self) -> tuple[Xyz, ...]:
        """Return the 2D corners of the collision box (plus wheel overhang) in base_footprint."""
        cx, cy, _ = self.box_center
        hx, hy = self.box_size[0] / 2, max(self.box_size[1] / 2, self.wheel_separation / 2 + 0.01)
        return ((cx + hx, cy + hy, 0.0), (cx + hx, cy - hy, 0.0),
                (cx - hx, cy - hy, 0.0), (cx - hx, cy + hy, 0.0))


_COMMON = (StaticTf('base_footprint', 'base_link', (0.0, 0.0, 0.010)),)

WAFFLE_PI = RobotSpec(
    name='waffle_pi', wheel_radius=0.033, wheel_separation=0.287,
    box_size=(0.266, 0.266, 0.094), box_center=(-0.064, 0.0, 0.047),
    max_v=0.26, max_w=1.82, has_camera=True,
    static_tfs=_COMMON + (
        StaticTf('base_link', 'base_scan', (-0.064, 0.0, 0.122)),
        StaticTf('base_link', 'imu_link', (0.0, 0.0, 0.068)),
        StaticTf('base_link', 'camera_link', (0.073, -0.011, 0.084)),
        StaticTf('camera_link', 'camera_rgb_frame', (0.003, 0.011, 0.009)),
        StaticTf('camera_rgb_frame', 'camera_rgb_optical_frame', (0.0, 0.0, 0.0),
                 (-1.57, 0.0, -1.57)),
        StaticTf('base_link', 'wheel_left_link', (0.0, 0.144, 0.023), (-1.57, 0.0, 0.0)),
        StaticTf('base_link', 'wheel_right_link', (0.0, -0.144, 0.023), (-1.57, 0.0, 0.0)),
    ))

BURGER = RobotSpec(
    name='burger', wheel_radius=0.033, wheel_separation=0.160,
    box_size=(0.140, 0.140, 0.143), box_center=(-0.032, 0.0, 0.070),
    max_v=0.22, max_w=2.84, has_camera=False,
    static_tfs=_COMMON + (
        StaticTf('base_link', 'base_scan', (-0.032, 0.0, 0.172)),
        StaticTf('base_link', 'imu_link', (-0.032, 0.0, 0.068)),
        StaticTf('base_link', 'wheel_left_link', (0.0, 0.08, 0.023), (-1.57, 0.0, 0.0)),
        StaticTf('base_link', 'wheel_right_link', (0.0, -0.08, 0.023), (-1.57, 0.0, 0.0)),
    ))

ROBOTS: dict[str, RobotSpec] = {WAFFLE_PI.name: WAFFLE_PI, BURGER.name: BURGER}


def get_robot(name: str | None) -> RobotSpec:
    """Return the spec of ``name`` (``waffle_pi`` or ``burger``)."""
    if name not in ROBOTS:
        raise InputError(f'unknown robot model {name!r}; expected one of {sorted(ROBOTS)}')
    return ROBOTS[name]
