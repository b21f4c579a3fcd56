"""Lidar returns projected into the camera image, for fitting relative depth (no ROS)."""

from typing import Tuple

import numpy as np

from ros2_infer.conversions import project_points, scan_to_points
from ros2_infer.core.depth import DepthFit, fit_scale_shift
from ros2_infer.core.sensors import CameraInfo, LaserScan


def lidar_pixels(camera: CameraInfo, scan: LaserScan, camera_from_scan: np.ndarray
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Return ``(rows, cols, z)`` of the scan's returns that land in the image.

    :param camera_from_scan: 4x4 transform of scan-frame points into the optical frame.
    :return: integer pixel rows and columns and the returns' optical z-depth in metres.
    """
    points = scan_to_points(scan)
    if points.shape[0] == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0)
    in_camera = points @ camera_from_scan[:3, :3].T + camera_from_scan[:3, 3]
    uv, inside = project_points(camera, in_camera)
    cols = np.clip(np.rint(uv[inside, 0]), 0, camera.width - 1).astype(np.int64)
    rows = np.clip(np.rint(uv[inside, 1]), 0, camera.height - 1).astype(np.int64)
    return rows, cols, in_camera[inside, 2]


def fit_to_lidar(relative: np.ndarray, camera: CameraInfo, scan: LaserScan,
                 camera_from_scan: np.ndarray, min_samples: int = 12) -> DepthFit:
    """Fit ``1/z = scale * relative + shift`` to the lidar returns that fall in the image."""
    rows, cols, z = lidar_pixels(camera, scan, camera_from_scan)
    return fit_scale_shift(relative[rows, cols], z, min_samples=min_samples)


def confidence_map(depth: np.ndarray, fit: DepthFit) -> np.ndarray:
    """
    Return a float32 confidence in 0..1 per pixel: 0 where depth is invalid.

    Valid pixels get the fraction of lidar samples the fit agrees with, lowered when only the
    scale could be fitted (the shift then rests on its prior).
    """
    quality = fit.inliers / max(fit.samples, 1)
    if not fit.shift_observable:
        quality *= 0.5
    out = np.zeros(depth.shape, np.float32)
    out[np.isfinite(depth)] = np.float32(quality)
    return out
