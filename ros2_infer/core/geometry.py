"""
Planar and spatial rigid transforms, and a TF buffer that answers at a message's own stamp.

Conventions: SE(2) poses are arrays ``(x, y, yaw)``; 4x4 matrices map child coordinates into
the parent frame; quaternions are ``(x, y, z, w)`` as in geometry_msgs; stamps are int ns.
"""

import bisect
from collections.abc import Sequence
import math

import numpy as np


def wrap_angle(angle):
    """Wrap an angle (or an array of angles) into [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2.0 * np.pi) - np.pi


def quat_to_yaw(q: Sequence[float]) -> float:
    """Return the yaw (rotation about z) of a quaternion ``(x, y, z, w)``."""
    x, y, z, w = (float(v) for v in q)
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def yaw_to_quat(yaw: float) -> np.ndarray:
    """Return the quaternion ``(x, y, z, w)`` of a rotation about z."""
    return np.array([0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0)])


def quat_to_matrix(q: Sequence[float]) -> np.ndarray:
    """Return the 3x3 rotation matrix of a (normalised) quaternion ``(x, y, z, w)``."""
    q = np.asarray(q, dtype=float)
    norm = np.linalg.norm(q)
    x, y, z, w = q / norm if norm > 0 else (0.0, 0.0, 0.0, 1.0)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """Return the quaternion ``(x, y, z, w)`` of a 3x3 rotation matrix (w >= 0)."""
    m = np.asarray(r, dtype=float)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4, (m[1, 0] - m[0, 1]) / s]
    q = np.array(q)
    return q if q[3] >= 0 else -q


def make_matrix(translation: Sequence[float], quat: Sequence[float]) -> np.ndarray:
    """Return the 4x4 homogeneous transform of a translation and a quaternion."""
    out = np.eye(4)
    out[:3, :3] = quat_to_matrix(quat)
    out[:3, 3] = np.asarray(translation, dtype=float)[:3]
    return out


def invert_matrix(m: np.ndarray) -> np.ndarray:
    """Invert a 4x4 rigid transform."""
    out = np.eye(4)
    out[:3, :3] = m[:3, :3].T
    out[:3, 3] = -m[:3, :3].T @ m[:3, 3]
    return out


def slerp(q0: Sequence[float], q1: Sequence[float], t: float) -> np.ndarray:
    """Spherical linear interpolation between two quaternions (shortest path)."""
    q0 = np.asarray(q0, dtype=float)
    q1 = np.asarray(q1, dtype=float)
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q = q0 + t * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = math.acos(min(1.0, dot))
    s = math.sin(theta)
    return (math.sin((1 - t) * theta) * q0 + math.sin(t * theta) * q1) / s


# ---------------------------------------------------------------------------- SE(2)
def se2_compose(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    """Return ``a ∘ b`` for SE(2) poses ``(x, y, yaw)``."""
    c, s = math.cos(a[2]), math.sin(a[2])
    return np.array([a[0] + c * b[0] - s * b[1], a[1] + s * b[0] + c * b[1],
                     float(wrap_angle(a[2] + b[2]))])


def se2_inverse(a: Sequence[float]) -> np.ndarray:
    """Return the inverse of an SE(2) pose."""
    c, s = math.cos(a[2]), math.sin(a[2])
    return np.array([-c * a[0] - s * a[1], s * a[0] - c * a[1], float(wrap_angle(-a[2]))])


def se2_between(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    """Return ``a⁻¹ ∘ b``: the pose of ``b`` expressed in ``a``."""
    return se2_compose(se2_inverse(a), b)


def se2_transform_points(pose: Sequence[float], points: np.ndarray) -> np.ndarray:
    """Map (N, 2) points from the frame of ``pose`` into its parent frame."""
    c, s = math.cos(pose[2]), math.sin(pose[2])
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    return np.stack([pose[0] + c * pts[:, 0] - s * pts[:, 1],
                     pose[1] + s * pts[:, 0] + c * pts[:, 1]], axis=1)


def se2_interpolate(a: Sequence[float], b: Sequence[float], t: float) -> np.ndarray:
    """Interpolate linearly between two SE(2) poses (yaw along the shortest arc)."""
    dyaw = float(wrap_angle(b[2] - a[2]))
    return np.array([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]),
                     float(wrap_angle(a[2] + t * dyaw))])


def se2_adjoint(pose: Sequence[float]) -> np.ndarray:
    """Adjoint of an SE(2) pose (maps tangent vectors (x, y, yaw) between frames)."""
    c, s = math.cos(pose[2]), math.sin(pose[2])
    return np.array([[c, -s, pose[1]], [s, c, -pose[0]], [0.0, 0.0, 1.0]])


def se2_to_matrix(pose: Sequence[float]) -> np.ndarray:
    """Return the 4x4 matrix of a planar pose."""
    return make_matrix((pose[0], pose[1], 0.0), yaw_to_quat(pose[2]))


def matrix_to_se2(m: np.ndarray) -> np.ndarray:
    """Project a 4x4 transform onto the plane: ``(x, y, yaw)``."""
    return np.array([m[0, 3], m[1, 3], math.atan2(m[1, 0], m[0, 0])])


# ---------------------------------------------------------------------------- histories
class PoseHistory:
    """
    Time-ordered SE(2) poses with interpolation at any stamp inside the covered span.

    Inserts may arrive out of order; the history keeps the newest ``max_age_ns`` of stamps.
    """

    def __init__(self, max_age_ns: int = 30_000_000_000) -> None:
        """Create an empty history that forgets poses older than ``max_age_ns``."""
        self.max_age_ns = int(max_age_ns)
        self.stamps: list[int] = []
        self.poses: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.stamps)

    def clear(self) -> None:
        """Forget everything."""
        self.stamps.clear()
        self.poses.clear()

    def add(self, stamp_ns: int, pose: Sequence[float]) -> None:
        """Insert a pose (a duplicate stamp replaces the older entry)."""
        stamp_ns = int(stamp_ns)
        i = bisect.bisect_left(self.stamps, stamp_ns)
        pose = np.asarray(pose, dtype=float)
        if i < len(self.stamps) and self.stamps[i] == stamp_ns:
            self.poses[i] = pose
        else:
            self.stamps.insert(i, stamp_ns)
            self.poses.insert(i, pose)
        cutoff = self.stamps[-1] - self.max_age_ns
        if self.stamps[0] < cutoff:
            k = bisect.bisect_left(self.stamps, cutoff)
            del self.stamps[:k]
            del self.poses[:k]

    @property
    def latest_stamp(self) -> int | None:
        """Newest stamp held, or None."""
        return self.stamps[-1] if self.stamps else None

    @property
    def oldest_stamp(self) -> int | None:
        """Oldest stamp held, or None."""
        return self.stamps[0] if self.stamps else None

    def covers(self, stamp_ns: int) -> bool:
        """Whether ``stamp_ns`` lies inside the held span (interpolation, no extrapolation)."""
        return bool(self.stamps) and self.stamps[0] <= stamp_ns <= self.stamps[-1]

    def at(self, stamp_ns: int, max_extrapolate_ns: int = 0) -> np.ndarray | None:
        """Return the pose at ``stamp_ns`` (interpolated), or None outside the span."""
        if not self.stamps:
            return None
        stamp_ns = int(stamp_ns)
        if stamp_ns > self.stamps[-1]:
            if stamp_ns - self.stamps[-1] > max_extrapolate_ns or len(self.stamps) < 2:
                return None if stamp_ns - self.stamps[-1] > max_extrapolate_ns else \
                    self.poses[-1].copy()
            i = len(self.stamps) - 1
        elif stamp_ns < self.stamps[0]:
            return None
        else:
            i = bisect.bisect_left(self.stamps, stamp_ns)
            if self.stamps[i] == stamp_ns:
                return self.poses[i].copy()
        t0, t1 = self.stamps[i - 1], self.stamps[i]
        return se2_interpolate(self.poses[i - 1], self.poses[i], (stamp_ns - t0) / (t1 - t0))


class TransformHistory:
    """Time-ordered 3D transforms of one TF edge with interpolation (lerp + slerp)."""

    def __init__(self, max_age_ns: int = 10_000_000_000) -> None:
        """Create an empty edge history keeping ``max_age_ns`` of data."""
        self.max_age_ns = int(max_age_ns)
        self.stamps: list[int] = []
        self.values: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, stamp_ns: int, translation: Sequence[float], quat: Sequence[float]) -> None:
        """Insert one sample (out-of-order inserts allowed)."""
        i = bisect.bisect_left(self.stamps, stamp_ns)
        value = (np.asarray(translation, dtype=float), np.asarray(quat, dtype=float))
        if i < len(self.stamps) and self.stamps[i] == stamp_ns:
            self.values[i] = value
        else:
            self.stamps.insert(i, int(stamp_ns))
            self.values.insert(i, value)
        cutoff = self.stamps[-1] - self.max_age_ns
        if self.stamps[0] < cutoff:
            k = bisect.bisect_left(self.stamps, cutoff)
            del self.stamps[:k]
            del self.values[:k]

    def at(self, stamp_ns: int, tolerance_ns: int = 0) -> np.ndarray | None:
        """Return the 4x4 transform at ``stamp_ns``, or None outside the span (± tolerance)."""
        if not self.stamps:
            return None
        if stamp_ns <= self.stamps[0]:
            return make_matrix(*self.values[0]) if self.stamps[0] - stamp_ns <= tolerance_ns \
                else None
        if stamp_ns >= self.stamps[-1]:
            return make_matrix(*self.values[-1]) if stamp_ns - self.stamps[-1] <= tolerance_ns \
                else None
        i = bisect.bisect_left(self.stamps, stamp_ns)
        t0, t1 = self.stamps[i - 1], self.stamps[i]
        t = (stamp_ns - t0) / (t1 - t0)
        (p0, q0), (p1, q1) = self.values[i - 1], self.values[i]
        return make_matrix(p0 + t * (p1 - p0), slerp(q0, q1, t))


class TfBuffer:
    """
    A minimal tf2 buffer: static edges from /tf_static, dynamic edges interpolated at a stamp.

    ``lookup(target, source, stamp)`` returns the 4x4 transform that maps coordinates of
    ``source`` into ``target`` at ``stamp`` — never the "latest" transform — or None when an
    edge is missing or the stamp is outside a dynamic edge's history.
    """

    def __init__(self, max_age_ns: int = 10_000_000_000, tolerance_ns: int = 0) -> None:
        """Create an empty buffer; dynamic edges keep ``max_age_ns`` of history."""
        self.max_age_ns = max_age_ns
        self.tolerance_ns = tolerance_ns
        self.parent: dict[str, str] = {}
        self.static: dict[str, np.ndarray] = {}
        self.dynamic: dict[str, TransformHistory] = {}

    def clear(self, keep_static: bool = True) -> None:
        """Forget dynamic edges (and static ones unless ``keep_static``)."""
        self.dynamic.clear()
        if not keep_static:
            self.static.clear()
        self.parent = {c: p for c, p in self.parent.items() if c in self.static}

    def set_transform(self, parent: str, child: str, stamp_ns: int,
                      translation: Sequence[float], quat: Sequence[float],
                      static: bool = False) -> None:
        """Add one edge sample ``parent -> child``."""
        parent, child = parent.lstrip('/'), child.lstrip('/')
        self.parent[child] = parent
        if static:
            self.static[child] = make_matrix(translation, quat)
        else:
            self.dynamic.setdefault(child, TransformHistory(self.max_age_ns)).add(
                int(stamp_ns), translation, quat)

    def _to_root(self, frame: str, stamp_ns: int) -> tuple[list[str], np.ndarray] | None:
        chain = [frame]
        m = np.eye(4)
        seen = {frame}
        while frame in self.parent:
            if frame in self.static:
                edge = self.static[frame]
            else:
                edge = self.dynamic[frame].at(stamp_ns, self.tolerance_ns)
                if edge is None:
                    return None
            m = edge @ m
            frame = self.parent[frame]
            if frame in seen:
                return None
            seen.add(frame)
            chain.append(frame)
        return chain, m

    def can_transform(self, target: str, source: str, stamp_ns: int) -> bool:
        """Whether :meth:`lookup` would succeed."""
        return self.lookup(target, source, stamp_ns) is not None

    def lookup(self, target: str, source: str, stamp_ns: int) -> np.ndarray | None:
        """Return the transform from ``source`` coordinates to ``target`` at ``stamp_ns``."""
        target, source = target.lstrip('/'), source.lstrip('/')
        if target == source:
            return np.eye(4)
        a = self._to_root(source, stamp_ns)
        b = self._to_root(target, stamp_ns)
        if a is None or b is None or a[0][-1] != b[0][-1]:
            return None
        return invert_matrix(b[1]) @ a[1]
