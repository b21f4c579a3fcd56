"""
Pose fusion on a gtsam iSAM2 factor graph: odometry, late SLAM poses and landmark factors.

Keyframes (SE(2) poses of base_footprint in the map) are created at image and SLAM stamps, in
stamp order; odometry between them is a BetweenFactor whose noise grows with the distance and
rotation travelled. A SLAM pose (AMCL, slam_toolbox or Cartographer's map→odom ∘ odom) arrives
late: it is moved to the keyframe nearest its stamp with the odometry between the two stamps
and added as a robust (Cauchy) prior after a Mahalanobis gate. Landmark observations are
range–bearing factors with a Huber kernel. The graph is re-based every ``window`` keyframes
(a fresh iSAM2 seeded with the marginals of the newest keyframe and of the landmarks) so that
the cost per event stays flat over long runs.

Outputs are causal: the pose at an odometry stamp is the newest keyframe's estimate composed
with the odometry since that keyframe.
"""

import bisect
from dataclasses import dataclass
import math

import gtsam
import numpy as np

from ros2_infer.core.geometry import se2_between, se2_compose, wrap_angle


@dataclass
class LocalizerConfig:
    """Noise models and policies of the localizer (SI units)."""

    odom_trans_per_m: float = 0.015        # σ of x/y per metre travelled
    odom_rot_per_rad: float = 0.01         # σ of yaw per radian turned
    odom_rot_per_m: float = 0.004          # σ of yaw per metre travelled
    odom_trans_per_sqrt_s: float = 0.002   # σ floor (m/√s)
    odom_rot_per_sqrt_s: float = 0.002     # σ floor (rad/√s)
    slam_default_sigma: tuple = (0.06, 0.06, 0.03)   # when the covariance is missing or zero
    slam_min_sigma: tuple = (0.03, 0.03, 0.015)
    slam_inflate: float = 1.6              # the SLAM error is correlated in time: inflate it
    slam_gate: float = 25.0                # Mahalanobis² gate of a SLAM pose (3 dof)
    slam_kernel: float = 2.0               # Cauchy k
    landmark_kernel: float = 1.5           # Huber k
    window: int = 300                      # keyframes before a re-base
    init_sigma: tuple = (0.1, 0.1, 0.05)


@dataclass
class Keyframe:
    """A pose variable: gtsam key, stamp and the odometry pose at that stamp."""

    key: int
    stamp_ns: int
    odom: np.ndarray


def sanitize_covariance(cov6: np.ndarray | None, default: tuple, minimum: tuple,
                        inflate: float = 1.0) -> np.ndarray:
    """
    Return a usable 3x3 (x, y, yaw) covariance from a ROS 6x6 pose covariance.

    AMCL leaves most entries zero, Cartographer sends none, a broken publisher may send NaN or
    negative variances: missing/invalid diagonal entries take ``default``; every σ is floored
    at ``minimum``; off-diagonals are kept only if the result stays positive definite.
    """
    out = np.diag(np.square(default)).astype(float)
    if cov6 is not None:
        c = np.asarray(cov6, dtype=float).reshape(6, 6)
        idx = [0, 1, 5]
        sub = c[np.ix_(idx, idx)]
        if np.all(np.isfinite(sub)):
            for k in range(3):
                if sub[k, k] > 0.0:
                    out[k, k] = sub[k, k]
            off = sub.copy()
            np.fill_diagonal(off, np.diag(out))
            try:
                np.linalg.cholesky(off)
                out = off
            except np.linalg.LinAlgError:
                pass
    for k in range(3):
        out[k, k] = max(out[k, k], minimum[k] ** 2)
    return out * inflate ** 2


def rotate_covariance(cov: np.ndarray, yaw: float) -> np.ndarray:
    """Rotate an (x, y, yaw) covariance by ``yaw`` (body -> world; use -yaw for the inverse)."""
    c, s = math.cos(yaw), math.sin(yaw)
    r = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return r @ cov @ r.T


def _pose2(p) -> gtsam.Pose2:
    return gtsam.Pose2(float(p[0]), float(p[1]), float(p[2]))


def _arr(p: gtsam.Pose2) -> np.ndarray:
    return np.array([p.x(), p.y(), p.theta()])


def X(i: int) -> int:  # noqa: N802 - gtsam symbol naming
    """Key of keyframe ``i``."""
    return gtsam.symbol('x', i)


def L(i: int) -> int:  # noqa: N802 - gtsam symbol naming
    """Key of landmark ``i``."""
    return gtsam.symbol('l', i)


class Localizer:
    """The factor-graph localizer (see the module docstring)."""

    def __init__(self, config: LocalizerConfig | None = None) -> None:
        """Create an uninitialised localizer."""
        self.config = config or LocalizerConfig()
        self.stats = {'slam_accepted': 0, 'slam_rejected': 0, 'landmark_factors': 0,
                      'rebases': 0, 'keyframes': 0}
        self.reset()

    def reset(self) -> None:
        """Forget the graph (after a time jump or a relocalisation)."""
        params = gtsam.ISAM2Params()
        params.relinearizeSkip = 1
        params.setRelinearizeThreshold(0.01)
        self._params = params
        self.isam = gtsam.ISAM2(params)
        self.graph = gtsam.NonlinearFactorGraph()
        self.values = gtsam.Values()
        self.keyframes: list[Keyframe] = []
        self.counter = 0
        self.estimates: dict[int, np.ndarray] = {}
        self.latest_cov = np.diag(np.square(self.config.init_sigma))
        self.landmark_keys: set[int] = set()
        self.landmark_est: dict[int, np.ndarray] = {}
        self.known_priors: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.since_rebase = 0

    @property
    def initialized(self) -> bool:
        """Whether a first pose anchored the graph."""
        return bool(self.keyframes)

    # ------------------------------------------------------------------ noise
    def odom_noise(self, delta: np.ndarray, dt: float) -> np.ndarray:
        """Return the 3 σ of an odometry increment ``delta`` over ``dt`` seconds."""
        c = self.config
        ds = math.hypot(delta[0], delta[1])
        dt = max(dt, 0.0)
        st = c.odom_trans_per_m * ds + c.odom_trans_per_sqrt_s * math.sqrt(dt) + 1e-4
        sr = (c.odom_rot_per_rad * abs(delta[2]) + c.odom_rot_per_m * ds
              + c.odom_rot_per_sqrt_s * math.sqrt(dt) + 1e-4)
        return np.array([st, st, sr])

    # ------------------------------------------------------------------ keyframes
    def initialize(self, stamp_ns: int, odom: np.ndarray, pose: np.ndarray,
                   cov: np.ndarray) -> Keyframe:
        """Anchor the graph: first keyframe at ``pose`` with covariance ``cov``."""
        self.reset()
        kf = self._new_keyframe(stamp_ns, odom, pose)
        cov = rotate_covariance(cov, -pose[2])
        self.graph.add(gtsam.PriorFactorPose2(kf.key, _pose2(pose),
                                              gtsam.noiseModel.Gaussian.Covariance(cov)))
        self.latest_cov = cov.copy()
        self.update()
        return kf

    def _new_keyframe(self, stamp_ns: int, odom: np.ndarray, guess: np.ndarray) -> Keyframe:
        kf = Keyframe(X(self.counter), int(stamp_ns), np.asarray(odom, float).copy())
        self.counter += 1
        self.keyframes.append(kf)
        self.values.insert(kf.key, _pose2(guess))
        self.estimates[kf.key] = np.asarray(guess, float).copy()
        self.stats['keyframes'] += 1
        self.since_rebase += 1
        return kf

    def keyframe_at(self, stamp_ns: int, odom: np.ndarray,
                    merge_ns: int = 20_000_000) -> Keyframe:
        """
        Return the keyframe for a measurement at ``stamp_ns`` (odometry ``odom`` there).

        Newer than the newest keyframe (by more than ``merge_ns``): a new keyframe linked by an
        odometry factor. Otherwise the nearest existing keyframe.
        """
        last = self.keyframes[-1]
        if stamp_ns > last.stamp_ns + merge_ns:
            delta = se2_between(last.odom, odom)
            guess = se2_compose(self.estimates[last.key], delta)
            kf = self._new_keyframe(stamp_ns, odom, guess)
            sig = self.odom_noise(delta, (stamp_ns - last.stamp_ns) * 1e-9)
            self.graph.add(gtsam.BetweenFactorPose2(last.key, kf.key, _pose2(delta),
                                                    gtsam.noiseModel.Diagonal.Sigmas(sig)))
            return kf
        return self.nearest(stamp_ns)

    def nearest(self, stamp_ns: int) -> Keyframe:
        """Return the keyframe nearest to ``stamp_ns``."""
        stamps = [k.stamp_ns for k in self.keyframes]
        i = bisect.bisect_left(stamps, stamp_ns)
        if i == 0:
            return self.keyframes[0]
        if i == len(stamps):
            return self.keyframes[-1]
        a, b = self.keyframes[i - 1], self.keyframes[i]
        return a if stamp_ns - a.stamp_ns <= b.stamp_ns - stamp_ns else b

    def estimate(self, kf: Keyframe) -> np.ndarray:
        """Return the current estimate of a keyframe."""
        return self.estimates[kf.key].copy()

    # ------------------------------------------------------------------ measurements
    def slam_innovation(self, kf: Keyframe, measured: np.ndarray,
                        cov: np.ndarray) -> tuple[float, np.ndarray]:
        """Return (Mahalanobis², error vector) of a pose measurement at keyframe ``kf``."""
        est = self.estimates[kf.key]
        err = np.array([measured[0] - est[0], measured[1] - est[1],
                        float(wrap_angle(measured[2] - est[2]))])
        s = cov + rotate_covariance(self.latest_cov, est[2])
        return float(err @ np.linalg.solve(s, err)), err

    def add_pose_measurement(self, stamp_ns: int, odom_at_stamp: np.ndarray,
                             pose: np.ndarray, cov: np.ndarray,
                             gate: bool = True) -> tuple[bool, float]:
        """
        Add a (late) pose measurement of base in map at ``stamp_ns``.

        :return: ``(accepted, mahalanobis²)``.
        """
        kf = self.keyframe_at(stamp_ns, odom_at_stamp)
        delta = se2_between(odom_at_stamp, kf.odom)        # odometry from stamp to keyframe
        measured = se2_compose(pose, delta)
        sig = self.odom_noise(delta, abs(kf.stamp_ns - stamp_ns) * 1e-9)
        cov = cov + np.diag(sig ** 2)
        d2, _ = self.slam_innovation(kf, measured, cov)
        if gate and d2 > self.config.slam_gate:
            self.stats['slam_rejected'] += 1
            return False, d2
        noise = gtsam.noiseModel.Robust.Create(
            gtsam.noiseModel.mEstimator.Cauchy.Create(self.config.slam_kernel),
            gtsam.noiseModel.Gaussian.Covariance(rotate_covariance(cov, -measured[2])))
        self.graph.add(gtsam.PriorFactorPose2(kf.key, _pose2(measured), noise))
        self.stats['slam_accepted'] += 1
        return True, d2

    def add_landmark(self, ident: int, position: np.ndarray, cov: np.ndarray | None) -> None:
        """Create landmark ``ident``'s variable; with ``cov``, a prior (known map) too."""
        key = L(ident)
        if key in self.landmark_keys:
            return
        self.landmark_keys.add(key)
        self.values.insert(key, np.asarray(position[:2], float))
        self.landmark_est[ident] = np.asarray(position[:2], float).copy()
        if cov is not None:
            self.known_priors[ident] = (np.asarray(position[:2], float).copy(), cov.copy())
            self.graph.add(gtsam.PriorFactorPoint2(key, np.asarray(position[:2], float),
                                                   gtsam.noiseModel.Gaussian.Covariance(cov)))

    def has_landmark(self, ident: int) -> bool:
        """Whether landmark ``ident`` has a variable."""
        return L(ident) in self.landmark_keys

    def add_landmark_observation(self, kf: Keyframe, ident: int, point_base: np.ndarray,
                                 cov_base: np.ndarray) -> None:
        """Add a range–bearing factor from keyframe ``kf`` to landmark ``ident``."""
        rng = float(np.hypot(point_base[0], point_base[1]))
        if rng < 1e-3:
            return
        bearing = math.atan2(point_base[1], point_base[0])
        d = point_base[:2] / rng
        perp = np.array([-d[1], d[0]])
        s_r = math.sqrt(max(float(d @ cov_base @ d), 1e-6))
        s_b = math.sqrt(max(float(perp @ cov_base @ perp), 1e-6)) / rng
        noise = gtsam.noiseModel.Robust.Create(
            gtsam.noiseModel.mEstimator.Huber.Create(self.config.landmark_kernel),
            gtsam.noiseModel.Diagonal.Sigmas(np.array([s_b, s_r])))
        self.graph.add(gtsam.BearingRangeFactor2D(kf.key, L(ident), gtsam.Rot2(bearing), rng,
                                                  noise))
        self.stats['landmark_factors'] += 1

    # ------------------------------------------------------------------ solve
    def update(self, landmark_ids=()) -> None:
        """Run one iSAM2 update with the pending factors; refresh the cached estimates."""
        if self.graph.size() == 0 and self.values.size() == 0:
            return
        self.isam.update(self.graph, self.values)
        self.graph = gtsam.NonlinearFactorGraph()
        self.values = gtsam.Values()
        # Only the recent keyframes move noticeably; refresh those (bounded cost).
        for kf in self.keyframes[-30:]:
            self.estimates[kf.key] = _arr(self.isam.calculateEstimatePose2(kf.key))
        for ident in landmark_ids:
            if L(ident) in self.landmark_keys:
                self.landmark_est[ident] = np.asarray(
                    self.isam.calculateEstimatePoint2(L(ident)), float)
        try:
            self.latest_cov = np.asarray(self.isam.marginalCovariance(self.keyframes[-1].key))
        except RuntimeError:
            pass
        if self.since_rebase >= self.config.window:
            self.rebase()

    def landmark_covariance(self, ident: int) -> np.ndarray | None:
        """Marginal covariance of a landmark (None when it has no variable)."""
        if L(ident) not in self.landmark_keys:
            return None
        try:
            return np.asarray(self.isam.marginalCovariance(L(ident)))
        except RuntimeError:
            return None

    def rebase(self) -> None:
        """Start a fresh iSAM2 from the newest keyframe and the landmarks' marginals."""
        last = self.keyframes[-1]
        pose = self.estimates[last.key]
        cov = self.latest_cov
        lms = {}
        for key in self.landmark_keys:
            ident = gtsam.Symbol(key).index()
            est = np.asarray(self.isam.calculateEstimatePoint2(key), float)
            if ident in self.known_priors:
                lms[ident] = (est, None, self.known_priors[ident])
            else:
                lcov = np.asarray(self.isam.marginalCovariance(key))
                lms[ident] = (est, lcov * 2.0 + np.eye(2) * 1e-4, None)
        self.isam = gtsam.ISAM2(self._params)
        self.graph = gtsam.NonlinearFactorGraph()
        self.values = gtsam.Values()
        keep = self.keyframes[-1:]
        self.keyframes = keep
        self.estimates = {last.key: pose}
        self.values.insert(last.key, _pose2(pose))
        self.graph.add(gtsam.PriorFactorPose2(last.key, _pose2(pose),
                                              gtsam.noiseModel.Gaussian.Covariance(
                                                  cov * 1.5 + np.eye(3) * 1e-8)))
        self.landmark_keys = set()
        for ident, (est, lcov, known) in lms.items():
            if known is not None:
                self.add_landmark(ident, known[0], known[1])
                self.values.update(L(ident), est)
            else:
                self.add_landmark(ident, est, None)
                self.graph.add(gtsam.PriorFactorPoint2(L(ident), est,
                                                       gtsam.noiseModel.Gaussian.Covariance(
                                                           lcov)))
        self.since_rebase = 0
        self.stats['rebases'] += 1
        self.isam.update(self.graph, self.values)
        self.graph = gtsam.NonlinearFactorGraph()
        self.values = gtsam.Values()

    # ------------------------------------------------------------------ outputs
    def world_covariance(self) -> np.ndarray:
        """Covariance of the newest keyframe with x/y in the map frame."""
        kf = self.keyframes[-1]
        return rotate_covariance(self.latest_cov, self.estimates[kf.key][2])

    def predict(self, odom: np.ndarray, stamp_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """
        Return the pose (x, y, yaw) in map at odometry pose ``odom`` (causal).

        The covariance is returned with x/y in the map frame (as PoseWithCovariance wants).
        """
        kf = self.keyframes[-1]
        delta = se2_between(kf.odom, odom)
        pose = se2_compose(self.estimates[kf.key], delta)
        # Covariance in the body frame: move the keyframe's through the increment, add noise.
        c, s = math.cos(delta[2]), math.sin(delta[2])
        ad_inv = np.array([[c, s, s * delta[0] - c * delta[1]],
                           [-s, c, c * delta[0] + s * delta[1]], [0.0, 0.0, 1.0]])
        sig = self.odom_noise(delta, abs(stamp_ns - kf.stamp_ns) * 1e-9)
        cov = ad_inv @ self.latest_cov @ ad_inv.T + np.diag(sig ** 2)
        return pose, rotate_covariance(cov, pose[2])
