"""
Scripted driver: pure pursuit around a closed waypoint loop, integrated as a kinematic base.

The whole ground-truth trajectory is computed up front on a fixed tick (200 Hz by default), with
the commanded (v, w) held constant over each tick, so the pose at any time is an exact arc
(:meth:`Trajectory.pose_at`). Speeds and accelerations stay within TurtleBot3 limits.
"""

from collections.abc import Sequence
from dataclasses import dataclass
import math

import numpy as np

from ros2_infer.sim import world
from ros2_infer.sim.robot import RobotSpec


@dataclass
class DriverConfig:
    """Pure-pursuit parameters (defaults suit both TurtleBot3 models)."""

    cruise_speed: float = 0.22  # m/s, <= Waffle Pi 0.26 and Burger 0.22
    max_turn_rate: float = 1.5  # rad/s, <= Waffle Pi 1.82
    lookahead: float = 0.3  # m
    max_accel: float = 0.5  # m/s^2
    max_ang_accel: float = 3.0  # rad/s^2
    rotate_in_place_above: float = math.radians(60.0)
    start_delay: float = 0.5  # s standing still at the start
    control_every: int = 4  # ticks between controller updates (50 Hz at the 200 Hz tick)


@dataclass
class Trajectory:
    """Ground-truth states on a fixed tick: state k holds from t[k] with (v[k], w[k])."""

    dt: float
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    v: np.ndarray
    w: np.ndarray
    kidnap_tick: int | None = None

    def pose_at(self, t: float) -> tuple[float, float, float]:
        """Return the exact (x, y, yaw) at time ``t`` (seconds from the start)."""
        k = min(max(int(t / self.dt), 0), len(self.x) - 1)
        tau = max(t - k * self.dt, 0.0)
        return arc(self.x[k], self.y[k], self.yaw[k], self.v[k], self.w[k], tau)

    def twist_at(self, t: float) -> tuple[float, float]:
        """Return the commanded (v, w) in force at time ``t``."""
        k = min(max(int(t / self.dt), 0), len(self.x) - 1)
        return float(self.v[k]), float(self.w[k])


def arc(x: float, y: float, yaw: float, v: float, w: float,
        tau: float) -> tuple[float, float, float]:
    """Integrate a unicycle exactly for ``tau`` seconds at constant (v, w)."""
    if abs(w) < 1e-9:
        return (x + v * tau * math.cos(yaw), y + v * tau * math.sin(yaw), yaw)
    yaw2 = yaw + w * tau
    r = v / w
    return (x + r * (math.sin(yaw2) - math.sin(yaw)), y - r * (math.cos(yaw2) - math.cos(yaw)),
            yaw2)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


class _Loop:
    """A closed polyline parameterised by arc length."""

    def __init__(self, vertices: Sequence[tuple[float, float]]) -> None:
        self.v = np.asarray(vertices, dtype=float)
        self.b = np.roll(self.v, -1, axis=0)
        self.seg = np.linalg.norm(self.b - self.v, axis=1)
        self.cum = np.concatenate([[0.0], np.cumsum(self.seg)])
        self.length = float(self.cum[-1])

    def point(self, s: float) -> np.ndarray:
        s = s % self.length
        i = min(int(np.searchsorted(self.cum, s, side='right') - 1), len(self.seg) - 1)
        u = (s - self.cum[i]) / self.seg[i]
        return self.v[i] + u * (self.b[i] - self.v[i])

    def heading(self, s: float) -> float:
        d = self.point(s + 0.01) - self.point(s)
        return math.atan2(d[1], d[0])

    def project(self, p: np.ndarray, s_hint: float, window: float = 1.0) -> float:
        """Arc length of the closest point lying within ``window`` ahead of ``s_hint``."""
        ab = self.b - self.v
        u = np.clip(((p - self.v) * ab).sum(axis=1) / self.seg ** 2, 0.0, 1.0)
        dist = np.linalg.norm(self.v + u[:, None] * ab - p, axis=1)
        s_seg = self.cum[:-1] + u * self.seg
        # Unwrap each candidate to the lap of s_hint, then keep those inside the window.
        ahead = (s_seg - s_hint + 0.2) % self.length - 0.2
        dist = np.where((ahead >= -0.2) & (ahead <= window), dist, np.inf)
        i = int(np.argmin(dist))
        return s_hint + float(ahead[i]) if np.isfinite(dist[i]) else s_hint


def drive(robot: RobotSpec, duration: float, *, rng: np.random.Generator,
          dt: float = 0.005, config: DriverConfig | None = None,
          kidnap_time: float | None = None) -> Trajectory:
    """
    Compute the trajectory of the scripted drive.

    The loop direction is drawn from ``rng``; the robot starts at the turtlebot3_world spawn pose.
    With ``kidnap_time`` the robot is teleported, at that time, half a loop further along the
    route (heading along the route, at rest); odometry does not see the jump.
    """
    cfg = config or DriverConfig()
    vmax = min(cfg.cruise_speed, robot.max_v)
    wmax = min(cfg.max_turn_rate, robot.max_w)
    route = list(world.ROUTE)
    if rng.random() < 0.5:
        route = route[:1] + route[1:][::-1]
    loop = _Loop(route)
    n = int(math.ceil(duration / dt)) + 1
    xs, ys, yaws, vs, ws = (np.zeros(n) for _ in range(5))
    x, y, yaw = world.SPAWN
    v = w = 0.0
    s = loop.project(np.array([x, y]), 0.0, window=1.0)
    kidnap_tick = None if kidnap_time is None else int(round(kidnap_time / dt))
    v_cmd = w_cmd = 0.0
    for k in range(n):
        t = k * dt
        if k == kidnap_tick:
            s = s + loop.length / 2
            x, y = loop.point(s)
            yaw = loop.heading(s)
            v = w = 0.0
        if k % cfg.control_every == 0 or k == kidnap_tick:
            s = loop.project(np.array([x, y]), s)
            target = loop.point(s + cfg.lookahead)
            alpha = _wrap(math.atan2(target[1] - y, target[0] - x) - yaw)
            if t < cfg.start_delay:
                v_cmd = w_cmd = 0.0
            elif abs(alpha) > cfg.rotate_in_place_above:
                v_cmd, w_cmd = 0.0, math.copysign(wmax * 0.8, alpha)
            else:
                curvature = 2.0 * math.sin(alpha) / cfg.lookahead
                v_cmd = vmax / (1.0 + 0.6 * abs(curvature))
                w_cmd = max(-wmax, min(wmax, v_cmd * curvature))
        v += max(-cfg.max_accel * dt, min(cfg.max_accel * dt, v_cmd - v))
        w += max(-cfg.max_ang_accel * dt, min(cfg.max_ang_accel * dt, w_cmd - w))
        xs[k], ys[k], yaws[k], vs[k], ws[k] = x, y, yaw, v, w
        x, y, yaw = arc(x, y, yaw, v, w, dt)
        yaw = _wrap(yaw)
    return Trajectory(dt, xs, ys, yaws, vs, ws, kidnap_tick)


def footprint_clearance(traj: Trajectory, robot: RobotSpec, stride: int = 4) -> float:
    """Return the smallest static clearance of the robot's footprint outline along ``traj``."""
    corners = np.array(robot.footprint_corners)[:, :2]
    outline = np.concatenate([corners + (np.roll(corners, -1, axis=0) - corners) * u
                              for u in np.linspace(0, 1, 6, endpoint=False)])
    idx = np.arange(0, len(traj.x), stride)
    c, s = np.cos(traj.yaw[idx]), np.sin(traj.yaw[idx])
    px = traj.x[idx, None] + c[:, None] * outline[None, :, 0] - s[:, None] * outline[None, :, 1]
    py = traj.y[idx, None] + s[:, None] * outline[None, :, 0] + c[:, None] * outline[None, :, 1]
    pts = np.stack([px.ravel(), py.ravel()], axis=1)
    return float(world.static_clearance(pts).min())
