"""Plain ROS-free types the conversions produce where the core has none yet."""

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class Object3D:
    """
    One 3D detection or landmark (vision_msgs/Detection3D, a Marker in RViz).

    ``position`` is the box centre, ``orientation`` a quaternion (x, y, z, w), ``size`` the
    box extent along its own axes, all in the frame of the message header. ``covariance`` is
    the 3x3 covariance of ``position`` (m², the header's frame; None: unknown, sent as zeros).
    """

    class_name: str
    position: np.ndarray
    size: np.ndarray
    score: float = 1.0
    orientation: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0]))
    id: str = ''  # noqa: A003 (mirrors the message field)
    covariance: Optional[np.ndarray] = None
