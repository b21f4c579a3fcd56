"""
ROS-free sensor and pose types the core works with (filled by ros2_infer.conversions).

Stamps are integer nanoseconds (ROS time: sim time or wall time, whatever the header said);
quaternions are (x, y, z, w) as in geometry_msgs.
"""

from dataclasses import dataclass, field
from typing import Tuple

import numpy as np


def _identity6() -> np.ndarray:
    return np.zeros((6, 6))


@dataclass
class CameraInfo:
    """Pinhole camera (sensor_msgs/CameraInfo): K, distortion, size and optical frame."""

    width: int
    height: int
    k: np.ndarray                      # (3, 3)
    d: np.ndarray                      # distortion coefficients (plumb_bob: k1 k2 t1 t2 k3)
    distortion_model: str = 'plumb_bob'
    frame_id: str = 'camera_rgb_optical_frame'
    stamp_ns: int = 0

    @property
    def fx(self) -> float:
        return float(self.k[0, 0])

    @property
    def fy(self) -> float:
        return float(self.k[1, 1])

    @property
    def cx(self) -> float:
        return float(self.k[0, 2])

    @property
    def cy(self) -> float:
        return float(self.k[1, 2])


@dataclass
class LaserScan:
    """A planar scan (sensor_msgs/LaserScan); no-return beams are NaN in ``ranges``."""

    stamp_ns: int
    frame_id: str
    angle_min: float
    angle_increment: float
    time_increment: float
    scan_time: float
    range_min: float
    range_max: float
    ranges: np.ndarray                 # (N,) float32, NaN where no return

    def angles(self) -> np.ndarray:
        return self.angle_min + self.angle_increment * np.arange(self.ranges.shape[0])

    def valid(self) -> np.ndarray:
        return np.isfinite(self.ranges)


@dataclass
class PoseStamped:
    """A pose with covariance (Odometry's pose, PoseWithCovarianceStamped, PoseStamped)."""

    stamp_ns: int
    frame_id: str
    position: np.ndarray               # (3,)
    orientation: np.ndarray            # (4,) x y z w
    covariance: np.ndarray = field(default_factory=_identity6)  # (6, 6) x y z roll pitch yaw
    child_frame_id: str = ''
    linear_velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    angular_velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def yaw(self) -> float:
        x, y, z, w = self.orientation
        return float(np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)))


@dataclass
class Transform:
    """One TF edge (geometry_msgs/TransformStamped)."""

    stamp_ns: int
    parent_frame: str
    child_frame: str
    translation: np.ndarray            # (3,)
    rotation: np.ndarray               # (4,) x y z w

    def matrix(self) -> np.ndarray:
        """4x4 homogeneous transform child -> parent."""
        x, y, z, w = self.rotation
        rotation = np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
        out = np.eye(4)
        out[:3, :3] = rotation
        out[:3, 3] = self.translation
        return out


Quaternion = Tuple[float, float, float, float]
