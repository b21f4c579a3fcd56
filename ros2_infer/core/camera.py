"""
Pinhole camera with plumb_bob (Brown–Conrady) distortion, built from a CameraInfo.

Pixel coordinates follow sensor_msgs/CameraInfo: the centre of the top-left pixel is (0, 0).
Points are in the optical frame (z forward, x right, y down).
"""

import numpy as np

from ros2_infer.core.sensors import CameraInfo


class PinholeCamera:
    """Project 3D optical-frame points to pixels and pixels back to unit-depth rays."""

    def __init__(self, info: CameraInfo) -> None:
        """Take K and the plumb_bob coefficients (missing ones are zero) from ``info``."""
        self.info = info
        self.width, self.height = int(info.width), int(info.height)
        self.fx, self.fy, self.cx, self.cy = info.fx, info.fy, info.cx, info.cy
        d = np.zeros(5)
        coeffs = np.asarray(info.d, dtype=float).ravel()[:5]
        d[:coeffs.size] = coeffs
        self.d = d
        self.distorted = bool(np.any(d != 0.0))
        self.frame_id = info.frame_id

    def _distort(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k1, k2, p1, p2, k3 = self.d
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return xd, yd

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """
        Project (N, 3) optical-frame points.

        :return: ``(uv (N, 2), in_front (N,) bool)``; points behind the camera get NaN pixels.
        """
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        z = pts[:, 2]
        in_front = z > 1e-6
        with np.errstate(divide='ignore', invalid='ignore'):
            x = np.where(in_front, pts[:, 0] / z, np.nan)
            y = np.where(in_front, pts[:, 1] / z, np.nan)
        if self.distorted:
            x, y = self._distort(x, y)
        uv = np.stack([self.fx * x + self.cx, self.fy * y + self.cy], axis=1)
        return uv, in_front

    def unproject(self, uv: np.ndarray, iterations: int = 8) -> np.ndarray:
        """Return (N, 3) rays with z = 1 through pixels ``uv`` (distortion removed)."""
        uv = np.asarray(uv, dtype=float).reshape(-1, 2)
        xd = (uv[:, 0] - self.cx) / self.fx
        yd = (uv[:, 1] - self.cy) / self.fy
        x, y = xd.copy(), yd.copy()
        if self.distorted:
            for _ in range(iterations):   # fixed-point inversion (as OpenCV's undistortPoints)
                ex, ey = self._distort(x, y)
                x, y = x + (xd - ex), y + (yd - ey)
        return np.stack([x, y, np.ones_like(x)], axis=1)

    def in_image(self, uv: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Whether pixels lie inside the image (continuous edges at -0.5 and size - 0.5)."""
        uv = np.asarray(uv, dtype=float).reshape(-1, 2)
        return ((uv[:, 0] >= -0.5 - margin) & (uv[:, 0] <= self.width - 0.5 + margin)
                & (uv[:, 1] >= -0.5 - margin) & (uv[:, 1] <= self.height - 0.5 + margin))
