"""
The localizer's own gtsam factors (CustomFactor error functions) and its dense prior.

Each ``*_error`` returns the function a ``gtsam.CustomFactor`` calls: the error at the factor's
values and, when asked, its Jacobians (in the variables' tangent spaces).
"""

import math

import gtsam
import numpy as np

from ros2_infer.core.geometry import wrap_angle


def slam_bias_error(measured: np.ndarray):
    """SLAM factor on (pose, bias): ``pose + bias - measured``, in the map frame."""
    def error(factor, values, jacobians):
        pose = values.atPose2(factor.keys()[0])
        bias = values.atVector(factor.keys()[1])
        err = np.array([pose.x() + bias[0] - measured[0], pose.y() + bias[1] - measured[1],
                        wrap_angle(pose.theta() + bias[2] - measured[2])])
        if jacobians is not None:
            c, s = math.cos(pose.theta()), math.sin(pose.theta())
            jacobians[0] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
            jacobians[1] = np.eye(3)
        return err
    return error


def gauss_markov_error(a: float):
    """Gauss–Markov transition ``b_j - a b_i`` (a = exp(-dt/tau); a = 1: a random walk)."""
    def error(factor, values, jacobians):
        bi = values.atVector(factor.keys()[0])
        bj = values.atVector(factor.keys()[1])
        if jacobians is not None:
            jacobians[0] = -a * np.eye(bi.size)
            jacobians[1] = np.eye(bi.size)
        return bj - a * bi
    return error


def dense_prior(keys: list[int], info: np.ndarray) -> gtsam.HessianFactor:
    """
    Return a zero-mean Gaussian factor with information ``info`` on ``keys`` (tangent spaces).

    gtsam's Python API builds Hessian factors of at most three keys: sum pairwise ones (each
    diagonal block once) into one dense factor.
    """
    dims = [3 if gtsam.Symbol(k).chr() in (ord('x'), ord('b')) else 2 for k in keys]
    off = np.cumsum([0] + dims)

    def blk(i, j):
        return info[off[i]:off[i + 1], off[j]:off[j + 1]]

    if len(keys) == 1:
        return gtsam.HessianFactor(keys[0], blk(0, 0), np.zeros(dims[0]), 0.0)
    graph = gtsam.GaussianFactorGraph()
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            gii = blk(i, i) if i == 0 and j == 1 else np.zeros((dims[i], dims[i]))
            gjj = blk(j, j) if i == 0 else np.zeros((dims[j], dims[j]))
            graph.add(gtsam.HessianFactor(keys[i], keys[j], gii, blk(i, j), np.zeros(dims[i]),
                                          gjj, np.zeros(dims[j]), 0.0))
    return gtsam.HessianFactor(graph)


def odometry_drift_error(delta: np.ndarray, dt: float, distance: float):
    """
    Odometry factor on (pose i, pose j, heading drift): the increment with its drift removed.

    The drift is (rad/s, rad/m): a gyro bias turns the heading with time, unequal wheels with
    distance. The measured yaw increment less ``drift · (dt, distance)`` is compared with the
    poses' relative motion, as gtsam's BetweenFactorPose2 compares the raw one.
    """
    dx, dy, dyaw = (float(v) for v in delta)
    rates = np.array([[0.0, 0.0], [0.0, 0.0], [float(dt), float(distance)]])

    def error(factor, values, jacobians):
        pose_i = values.atPose2(factor.keys()[0])
        pose_j = values.atPose2(factor.keys()[1])
        drift = values.atVector(factor.keys()[2])
        measured = gtsam.Pose2(dx, dy, dyaw - float(rates[2] @ drift))
        h_i = np.zeros((3, 3), order='F')
        h_j = np.zeros((3, 3), order='F')
        relative = pose_i.between(pose_j, h_i, h_j)
        if jacobians is not None:
            jacobians[0] = h_i
            jacobians[1] = h_j
            jacobians[2] = rates   # the yaw error grows by dt and distance per unit of drift
        return measured.localCoordinates(relative)
    return error
