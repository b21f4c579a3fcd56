"""
Build the MuJoCo model (MJCF XML) of turtlebot3_world, its objects and the robot.

Geom groups: 0 = static world (wall, prisms, floor), 1 = landmarks (pillars and objects),
2 = robot. Landmark geoms are named ``lm<id>_<part>`` so that segmentation ids map back to
landmarks. The robot is a mocap body (kinematic base) carrying the camera.
"""

from collections.abc import Sequence
import math

import numpy as np

from ros2_infer.core.landmark_map import Landmark
from ros2_infer.sim import world
from ros2_infer.sim.appearance import Appearance, Material
from ros2_infer.sim.robot import RobotSpec

EXTENT = 5.0  # model statistic extent (m); near/far clip planes are fractions of it
CAMERA_NEAR = 0.03
CAMERA_FAR = 100.0


def _f(values: Sequence[float]) -> str:
    return ' '.join(f'{float(v):.6g}' for v in values)


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Return the rotation matrix Rz(yaw) @ Ry(pitch) @ Rx(roll) (URDF convention)."""
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch),
                              math.sin(pitch), math.cos(yaw), math.sin(yaw))
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


def vertical_fov_deg(hfov: float, width: int, height: int) -> float:
    """Return MuJoCo's vertical ``fovy`` (degrees) for a horizontal FOV (rad) and image size."""
    return math.degrees(2.0 * math.atan(math.tan(hfov / 2.0) * height / width))


class _Assets:

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.count = 0

    def material(self, mat: Material) -> str:
        self.count += 1
        name = f'mat{self.count}'
        rgb1 = _f(mat.rgba[:3])
        if mat.texture == 'flat':
            self.lines.append(f'<material name="{name}" rgba="{_f(mat.rgba)}"/>')
            return name
        if mat.texture == 'checker':
            tex = (f'builtin="checker" rgb1="{rgb1}" rgb2="{_f(mat.rgb2)}" '
                   f'width="64" height="64"')
        elif mat.texture == 'gradient':
            tex = f'builtin="gradient" rgb1="{rgb1}" rgb2="{_f(mat.rgb2)}" width="64" height="64"'
        else:  # dots
            tex = (f'builtin="flat" rgb1="{rgb1}" mark="random" random="0.08" '
                   f'markrgb="{_f(mat.rgb2)}" width="64" height="64"')
        self.lines.append(f'<texture name="tex{self.count}" type="2d" {tex}/>')
        self.lines.append(f'<material name="{name}" texture="tex{self.count}" '
                          f'texrepeat="2 2" texuniform="true"/>')
        return name


def _hex_vertices(circumradius: float, height: float) -> str:
    angles = np.deg2rad(np.arange(0, 360, 60))
    pts = [(circumradius * math.cos(a), circumradius * math.sin(a), z)
           for z in (0.0, height) for a in angles]
    return _f(np.array(pts).ravel())


def _cone_vertices(radius: float, height: float) -> str:
    angles = np.linspace(0, 2 * math.pi, 24, endpoint=False)
    pts = [(radius * math.cos(a), radius * math.sin(a), 0.0) for a in angles]
    pts.append((0.0, 0.0, height))
    return _f(np.array(pts).ravel())


def build_mjcf(landmarks: Sequence[Landmark], appearance: Appearance, robot: RobotSpec,
               *, hfov: float, width: int, height: int) -> str:
    """Return the MJCF XML of the whole scene."""
    assets = _Assets()
    body: list[str] = []
    floor_mat = assets.material(Material((*appearance.floor_rgb, 1.0), appearance.floor_texture,
                                         tuple(0.85 * c for c in appearance.floor_rgb)))
    body.append(f'<geom name="floor" type="plane" size="4 4 0.1" material="{floor_mat}" '
                f'group="0"/>')
    wall_mat = assets.material(Material((0.12, 0.12, 0.12, 1.0)))
    side = 2 * world.WALL_APOTHEM * math.tan(math.pi / 6) + 2 * world.WALL_THICKNESS
    zc = (world.WALL_Z[0] + world.WALL_Z[1]) / 2
    zh = (world.WALL_Z[1] - world.WALL_Z[0]) / 2
    for k, ang in enumerate(world.HEX_NORMAL_ANGLES):
        r = world.WALL_APOTHEM + world.WALL_THICKNESS / 2
        body.append(
            f'<geom name="wall{k}" type="box" group="0" material="{wall_mat}" '
            f'size="{_f((world.WALL_THICKNESS / 2, side / 2, zh))}" '
            f'pos="{_f((r * math.cos(ang), r * math.sin(ang), zc))}" '
            f'euler="0 0 {math.degrees(ang):.6g}"/>')
    prism_mat = assets.material(Material((0.1, 0.55, 0.15, 1.0)))
    for k, prism in enumerate(world.PRISMS):
        assets.lines.append(f'<mesh name="prism{k}" '
                            f'vertex="{_hex_vertices(prism.circumradius, world.PRISM_HEIGHT)}"/>')
        body.append(f'<geom name="prism{k}" type="mesh" mesh="prism{k}" group="0" '
                    f'material="{prism_mat}" pos="{_f((prism.x, prism.y, 0))}"/>')
    for lm in landmarks:
        body.append(_landmark_body(lm, appearance, assets))
    body.append(_robot_body(robot, hfov, width, height))
    light = appearance.light_diffuse
    return f"""<mujoco model="turtlebot3_world">
  <compiler angle="degree"/>
  <statistic extent="{EXTENT}" center="0 0 0.5"/>
  <visual>
    <global offwidth="{max(2 * width, 64)}" offheight="{max(2 * height, 64)}"/>
    <quality shadowsize="0" offsamples="0"/>
    <map znear="{CAMERA_NEAR / EXTENT:.6g}" zfar="{CAMERA_FAR / EXTENT:.6g}"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.15 0.15 0.15" specular="0 0 0"/>
  </visual>
  <asset>
    {chr(10).join('    ' + line for line in assets.lines).strip()}
  </asset>
  <worldbody>
    <light name="sun" directional="true" castshadow="false" pos="0 0 5"
           dir="{_f(appearance.light_dir)}" diffuse="{_f((light,) * 3)}" specular="0.1 0.1 0.1"/>
    {chr(10).join('    ' + line for line in body).strip()}
  </worldbody>
</mujoco>
"""


def _landmark_body(lm: Landmark, appearance: Appearance, assets: _Assets) -> str:
    if lm.class_name == world.PILLAR_CLASS:
        parts = (('cylinder', (world.PILLAR_RADIUS, world.PILLAR_HEIGHT / 2),
                  (0.0, 0.0, world.PILLAR_HEIGHT / 2), 'primary'),)
    else:
        parts = world.OBJECT_CLASSES[lm.class_name].parts
    base_z = lm.position[2] - lm.size[2] / 2
    lines = [f'<body name="lm{lm.id}" pos="{_f((lm.position[0], lm.position[1], base_z))}" '
             f'euler="0 0 {math.degrees(lm.yaw):.6g}">']
    for j, (kind, size, pos, role) in enumerate(parts):
        mat = assets.material(appearance.material(f'{lm.id}/{role}', lm.class_name, role))
        name = f'lm{lm.id}_{j}'
        if kind == 'cone':
            assets.lines.append(f'<mesh name="{name}" vertex="{_cone_vertices(*size)}"/>')
            geom = f'type="mesh" mesh="{name}"'
        else:
            geom = f'type="{kind}" size="{_f(size)}"'
        lines.append(f'  <geom name="{name}" {geom} pos="{_f(pos)}" group="1" '
                     f'material="{mat}"/>')
    lines.append('</body>')
    return '\n    '.join(lines)


def _robot_body(robot: RobotSpec, hfov: float, width: int, height: int) -> str:
    bx, by, bz = robot.box_size
    cx, cy, cz = robot.chain_xyz('base_link')
    ox, oy, oz = robot.box_center
    sx, sy, sz = robot.chain_xyz('base_scan')
    lines = ['<body name="robot" mocap="true" pos="0 0 0">',
             f'  <geom name="robot_box" type="box" group="2" rgba="0.3 0.3 0.3 1" '
             f'size="{_f((bx / 2, by / 2, bz / 2))}" pos="{_f((cx + ox, cy + oy, cz + oz))}"/>',
             f'  <geom name="robot_lidar" type="cylinder" group="2" rgba="0.1 0.1 0.1 1" '
             f'size="0.035 0.02" pos="{_f((sx, sy, sz - 0.01))}"/>']
    for side in (1, -1):
        lines.append(f'  <geom name="robot_wheel{side}" type="cylinder" group="2" '
                     f'rgba="0.1 0.1 0.1 1" size="{robot.wheel_radius} 0.009" '
                     f'pos="0 {side * robot.wheel_separation / 2:.6g} {robot.wheel_radius:.6g}" '
                     f'euler="90 0 0"/>')
    if robot.has_camera:
        px, py, pz = robot.chain_xyz('camera_rgb_frame')
        rot = rpy_matrix(*robot.tf('camera_rgb_optical_frame').rpy)
        # MuJoCo cameras look along -z with +y up: x = optical x, y = -optical y.
        xyaxes = np.concatenate([rot[:, 0], -rot[:, 1]])
        lines.append(f'  <camera name="rgb" pos="{_f((px, py, pz))}" xyaxes="{_f(xyaxes)}" '
                     f'fovy="{vertical_fov_deg(hfov, width, height):.8g}"/>')
    lines.append('</body>')
    return '\n    '.join(lines)
