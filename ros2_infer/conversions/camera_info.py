"""sensor_msgs/CameraInfo <-> the core's CameraInfo, and projecting points into the image."""

from typing import Any, Tuple

import numpy as np

from ros2_infer.conversions._common import (
    as_int, as_str, f64_field, float_array, frame_id, get, MessageError, MessageTypes, new,
    resolve, stamp_ns)
from ros2_infer.core.camera import PinholeCamera
from ros2_infer.core.sensors import CameraInfo

_DISTORTION_MODELS = ('plumb_bob', 'rational_polynomial', 'equidistant', '')


def camera_info_from_msg(msg: Any) -> CameraInfo:
    """
    Return the core CameraInfo of a sensor_msgs/CameraInfo (rclpy's ``k``/``d`` or ROS 1 case).

    :raises MessageError: non-positive size or focal length, non-finite K or D.
    """
    header = get(msg, 'header')
    width = as_int(get(msg, 'width'), 'width', 1)
    height = as_int(get(msg, 'height'), 'height', 1)
    k = float_array(getattr(msg, 'k', getattr(msg, 'K', None)), 'K', 9).reshape(3, 3)
    d = float_array(getattr(msg, 'd', getattr(msg, 'D', ())), 'D')
    model = as_str(get(msg, 'distortion_model'), 'distortion_model')
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(d))):
        raise MessageError('CameraInfo K and D must be finite')
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        raise MessageError(f'CameraInfo focal lengths must be > 0, got fx={k[0, 0]} '
                           f'fy={k[1, 1]} (uncalibrated camera?)')
    if model not in _DISTORTION_MODELS:
        raise MessageError(f'unsupported distortion model {model!r}')
    return CameraInfo(width=width, height=height, k=k, d=d, distortion_model=model or 'plumb_bob',
                      frame_id=frame_id(header), stamp_ns=stamp_ns(header))


def camera_info_to_msg(camera: CameraInfo, header: Any, types: MessageTypes = None) -> Any:
    """Return a sensor_msgs/CameraInfo (R identity, P = [K | 0]) of a core CameraInfo."""
    cls = resolve(types, 'sensor_msgs/msg/CameraInfo')
    k = np.asarray(camera.k, np.float64).reshape(3, 3)
    p = np.zeros((3, 4))
    p[:, :3] = k
    roi = new(resolve(types, 'sensor_msgs/msg/RegionOfInterest'), x_offset=0, y_offset=0,
              height=0, width=0, do_rectify=False)
    return new(cls, header=header, height=int(camera.height), width=int(camera.width),
               distortion_model=camera.distortion_model,
               d=f64_field(cls, np.asarray(camera.d), fixed=False), k=f64_field(cls, k),
               r=f64_field(cls, np.eye(3)), p=f64_field(cls, p), binning_x=0, binning_y=0,
               roi=roi)


def project_points(camera: CameraInfo, points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """
    Project (N, 3) optical-frame points with the core's PinholeCamera (plumb_bob distortion).

    :return: ``(uv, inside)``: (N, 2) pixel coordinates (CameraInfo convention: the top-left
        pixel's centre is (0, 0)) and a mask of the points in front of the camera that land
        inside the image.
    """
    if camera.distortion_model not in ('plumb_bob', '') and np.any(np.asarray(camera.d)):
        raise MessageError(f'cannot project with distortion model {camera.distortion_model!r} '
                           '(plumb_bob only; publish rectified images with zero D)')
    model = PinholeCamera(camera)
    uv, in_front = model.project(points)
    return uv, in_front & model.in_image(uv)
