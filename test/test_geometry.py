"""Geometry: quaternions, SE(2), pose histories, the TF buffer and the pinhole camera."""

import math

import numpy as np

from ros2_infer.core.camera import PinholeCamera
from ros2_infer.core.geometry import (matrix_to_quat, PoseHistory, quat_to_matrix, quat_to_yaw,
                                      se2_between, se2_compose, se2_inverse, TfBuffer,
                                      yaw_to_quat)
from ros2_infer.core.sensors import CameraInfo


def test_quaternion_and_se2_round_trips():
    for yaw in (-3.0, -0.4, 0.0, 1.2, 3.1):
        assert math.isclose(quat_to_yaw(yaw_to_quat(yaw)), yaw, abs_tol=1e-12)
        q = yaw_to_quat(yaw)
        assert np.allclose(matrix_to_quat(quat_to_matrix(q)), q * np.sign(q[3]))
    a, b = np.array([1.0, 2.0, 0.5]), np.array([-0.3, 0.7, -2.0])
    assert np.allclose(se2_compose(a, se2_inverse(a)), 0.0, atol=1e-12)
    assert np.allclose(se2_compose(a, se2_between(a, b)), b)


def test_pose_history_interpolates_out_of_order_and_refuses_extrapolation():
    h = PoseHistory()
    h.add(200, (2.0, 0.0, 0.2))
    h.add(0, (0.0, 0.0, 0.0))
    h.add(100, (1.0, 0.0, 0.1))
    assert np.allclose(h.at(150), (1.5, 0.0, 0.15))
    assert h.at(201) is None and h.at(-1) is None
    # yaw interpolates across the ±pi cut along the short arc
    h2 = PoseHistory()
    h2.add(0, (0.0, 0.0, 3.1))
    h2.add(10, (0.0, 0.0, -3.1))
    assert abs(abs(h2.at(5)[2]) - math.pi) < 1e-9


def test_tf_buffer_chains_static_and_dynamic_at_the_stamp():
    tf = TfBuffer()
    tf.set_transform('base_footprint', 'base_link', 0, (0, 0, 0.01), (0, 0, 0, 1), static=True)
    tf.set_transform('base_link', 'camera', 0, (0.1, 0, 0.1), (0, 0, 0, 1), static=True)
    tf.set_transform('odom', 'base_footprint', 1000, (0.0, 0, 0), yaw_to_quat(0.0))
    tf.set_transform('odom', 'base_footprint', 3000, (2.0, 0, 0), yaw_to_quat(0.0))
    m = tf.lookup('odom', 'camera', 2000)          # interpolated, not the latest
    assert np.allclose(m[:3, 3], (1.1, 0.0, 0.11))
    assert tf.lookup('odom', 'camera', 5000) is None
    assert tf.lookup('map', 'camera', 2000) is None  # unknown frame
    inv = tf.lookup('camera', 'odom', 2000)
    assert np.allclose(inv @ m, np.eye(4))


def test_camera_projects_and_unprojects_with_distortion():
    info = CameraInfo(640, 480, np.array([[530.0, 0, 320.5], [0, 530.0, 240.5], [0, 0, 1]]),
                      np.array([-0.2, 0.05, 0.001, -0.001, 0.0]))
    cam = PinholeCamera(info)
    pts = np.array([[0.3, -0.2, 2.0], [-0.5, 0.4, 1.5], [0.0, 0.0, 1.0]])
    uv, front = cam.project(pts)
    assert front.all()
    rays = cam.unproject(uv)
    assert np.allclose(rays * pts[:, 2:3], pts, atol=1e-6)
    assert np.allclose(uv[2], (320.5, 240.5))
    _, front = cam.project(np.array([[0, 0, -1.0]]))
    assert not front[0]
