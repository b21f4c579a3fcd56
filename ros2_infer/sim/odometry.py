"""
Wheel odometry and IMU error models (explicit, documented, seeded).

TurtleBot3's turtlebot3_node integrates wheel encoders for translation and, with
``use_imu: true``, takes heading from the IMU. The model, per 200 Hz tick of length dt with true
body-frame increments ds = v dt and dtheta = w dt:

* wheel scale error: each wheel radius is off by a fixed factor ``1 + e``, e ~ N(0,
  ``wheel_scale_sigma``) (tyre wear, load); the wheel separation by ``separation_sigma``;
* translational slip: white noise on ds with variance ``slip_sigma**2 * |ds|`` (m^2),
  plus ``turn_slip`` metres of lost travel per radian turned;
* heading: ``imu_weight`` of the heading increment comes from the gyro (true rate + a slowly
  wandering bias, random walk of ``gyro_bias_walk`` rad/s/sqrt(s) from N(0,
  ``gyro_bias_sigma``), + white noise ``gyro_sigma``), the rest from the wheels.

The IMU messages use the same gyro bias, so /imu and /odom are consistent.
"""

from dataclasses import dataclass, fields
import math

import numpy as np

from ros2_infer.sim.driver import Trajectory
from ros2_infer.sim.robot import RobotSpec

GRAVITY = 9.80665


@dataclass
class OdomErrorModel:
    """Parameters of the odometry/IMU error model (defaults in docs/simulation.md)."""

    wheel_scale_sigma: float = 0.01
    separation_sigma: float = 0.01
    slip_sigma: float = 0.004  # m per sqrt(m) travelled
    turn_slip: float = 0.002  # m lost per rad turned
    imu_weight: float = 0.9
    gyro_sigma: float = 2e-4  # rad/s white noise (Gazebo IMU)
    gyro_bias_sigma: float = 2e-4  # rad/s initial bias
    gyro_bias_walk: float = 2e-5  # rad/s/sqrt(s)
    accel_sigma: float = 1.7e-2  # m/s^2 (Gazebo IMU)

    def as_dict(self) -> dict[str, float]:
        """Return the parameters as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class OdomTrack:
    """Odometry estimate and IMU signals on the trajectory's tick grid."""

    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    v: np.ndarray  # measured forward speed
    w: np.ndarray  # measured yaw rate (the odometry's, IMU-blended)
    gyro_bias: np.ndarray
    imu_yaw: np.ndarray  # heading integrated from the gyro (the IMU orientation output)


def simulate_odometry(traj: Trajectory, robot: RobotSpec, model: OdomErrorModel,
                      rng: np.random.Generator) -> OdomTrack:
    """Apply the error model to ``traj`` and integrate the odometry estimate (vectorised)."""
    n, dt = len(traj.x), traj.dt
    e_left, e_right = rng.normal(0.0, model.wheel_scale_sigma, 2)
    e_sep = rng.normal(0.0, model.separation_sigma)
    ds = traj.v * dt
    dth = traj.w * dt
    # Wheel travel: left/right wheels each scaled by their radius error.
    half = robot.wheel_separation / 2
    d_left = (ds - dth * half) * (1 + e_left)
    d_right = (ds + dth * half) * (1 + e_right)
    ds_wheel = (d_left + d_right) / 2
    dth_wheel = (d_right - d_left) / (robot.wheel_separation * (1 + e_sep))
    ds_meas = (ds_wheel + rng.normal(0.0, 1.0, n) * model.slip_sigma * np.sqrt(np.abs(ds))
               - model.turn_slip * np.abs(dth) * np.sign(ds))
    bias = (rng.normal(0.0, model.gyro_bias_sigma)
            + np.cumsum(rng.normal(0.0, model.gyro_bias_walk * math.sqrt(dt), n)))
    gyro = traj.w + bias + rng.normal(0.0, model.gyro_sigma, n)
    dth_meas = model.imu_weight * gyro * dt + (1 - model.imu_weight) * dth_wheel
    yaw0 = traj.yaw[0]
    yaw = yaw0 + np.concatenate([[0.0], np.cumsum(dth_meas)[:-1]])
    mid = yaw + dth_meas / 2
    x = traj.x[0] + np.concatenate([[0.0], np.cumsum(ds_meas * np.cos(mid))[:-1]])
    y = traj.y[0] + np.concatenate([[0.0], np.cumsum(ds_meas * np.sin(mid))[:-1]])
    imu_yaw = yaw0 + np.concatenate([[0.0], np.cumsum(gyro * dt)[:-1]])
    # The odometry frame starts at the robot's start pose, so odom = identity at t = 0.
    c, s = math.cos(-yaw0), math.sin(-yaw0)
    xo, yo = x - traj.x[0], y - traj.y[0]
    return OdomTrack(c * xo - s * yo, s * xo + c * yo, yaw - yaw0, ds_meas / dt,
                     dth_meas / dt, bias, imu_yaw)


def interp_pose(track_x: np.ndarray, track_y: np.ndarray, track_yaw: np.ndarray, dt: float,
                t: float):
    """Linearly interpolate a pose track on the tick grid at time ``t`` (yaw unwrapped)."""
    f = min(max(t / dt, 0.0), len(track_x) - 1.000001)
    k = int(f)
    u = f - k
    yaw = track_yaw[k] + u * (track_yaw[k + 1] - track_yaw[k])
    return (track_x[k] + u * (track_x[k + 1] - track_x[k]),
            track_y[k] + u * (track_y[k + 1] - track_y[k]), yaw)
