"""
Pose fusion on a gtsam iSAM2 factor graph: odometry, late SLAM poses and landmark factors.

Keyframes (SE(2) poses of base_footprint in the map) are created at image and SLAM stamps, in stamp
order; odometry between them is a between-factor whose noise grows with the distance and rotation
travelled. Odometry's heading error is mostly systematic (a gyro bias, unequal wheels), so each
increment's yaw is corrected by a drift state (rad/s, rad/m; a random walk, one variable per
``odom_drift_step`` seconds) that landmarks and SLAM make observable. A SLAM pose (AMCL,
slam_toolbox or Cartographer's map→odom ∘ odom) arrives late: it is moved to the keyframe nearest
its stamp with the odometry between the two stamps and added as a robust (Cauchy) factor after a
Mahalanobis gate. SLAM errors are not white: AMCL and scan-matching SLAM drift slowly (a bias that
persists for tens of seconds), so the SLAM factor measures ``pose + bias`` (additive in the map
frame), where the bias is a state of its own: one 3-vector (x, y, yaw) per ``slam_bias_step``
seconds of SLAM stamps, a zero-mean first-order Gauss–Markov process (stationary σ
``slam_bias_sigma``, correlation time ``slam_bias_tau``). Landmarks then pin the pose while the
bias absorbs SLAM's slow error; without landmarks the zero-mean bias makes the pose average SLAM
over its correlation time. Landmark observations are range–bearing factors with a Huber kernel. A
known map that says how uncertain its shared offset is (a map saved by a mapping run: every
landmark carries that run's mean SLAM error) gets one more variable, that offset, with the map's
covariance as its prior; each known landmark is then tied to it with only its own, much smaller,
covariance. The run's SLAM stream then weighs in on the offset instead of being overruled by a
dozen landmarks counted as independent. The graph is re-based every ``window`` keyframes (a fresh
iSAM2 seeded with the joint marginal of the newest keyframe, the newest SLAM bias and drift, the
landmarks and that offset) so that the cost per event stays flat over long runs.

Outputs are causal: the pose at an odometry stamp is the newest keyframe's estimate composed
with the odometry since that keyframe.
"""

import bisect
from collections import Counter
from dataclasses import dataclass
import math

import gtsam
import numpy as np

from ros2_infer.core.geometry import se2_between, se2_compose, wrap_angle
from ros2_infer.core.graph_factors import (dense_prior, gauss_markov_error, odometry_drift_error,
                                           slam_bias_error)


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
    rebase_joint: bool = True              # re-base with the joint marginal (see rebase)
    rebase_joint_max_landmarks: int = 60   # above: per-variable marginals (dense cost O(n³))
    rebase_inflate: float = 1.0            # covariance scale of that joint marginal
    init_sigma: tuple = (0.1, 0.1, 0.05)
    # SLAM bias state (x, y in map, yaw): first-order Gauss-Markov; 0 disables it.
    slam_bias_sigma: tuple = (0.045, 0.045, 0.02)   # stationary σ
    slam_bias_tau: float = 20.0            # correlation time (s)
    slam_bias_step: float = 1.0            # one bias variable per this many seconds of SLAM
    slam_white_scale: float = 0.5          # σ of a SLAM factor = this x the (sanitised) SLAM σ
    # Odometry heading drift (rad/s, rad/m): a gyro bias and unequal wheels turn the odometry's
    # heading steadily, not at random. A random-walk state takes it out of every increment;
    # 0 disables it.
    odom_drift_sigma: tuple = (0.002, 0.01)   # prior σ (rad/s, rad/m)
    odom_drift_walk: tuple = (2e-5, 2e-5)     # random walk σ per √s
    odom_drift_step: float = 5.0              # one drift variable per this many seconds


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


def D(i: int) -> int:  # noqa: N802 - gtsam symbol naming
    """Key of odometry heading drift ``i``."""
    return gtsam.symbol('d', i)


MAP_OFFSET = gtsam.Symbol('o', 0).key()   # shared offset of a known map's landmarks


def B(i: int) -> int:  # noqa: N802 - gtsam symbol naming
    """Key of SLAM bias ``i``."""
    return gtsam.symbol('b', i)


class Localizer:
    """The factor-graph localizer (see the module docstring)."""

    def __init__(self, config: LocalizerConfig | None = None,
                 map_offset_cov: np.ndarray | None = None) -> None:
        """
        Create an uninitialised localizer.

        :param map_offset_cov: 2x2 covariance of the offset that all of a known map's
            landmarks share (None: the landmarks' priors are independent).
        """
        self.config = config or LocalizerConfig()
        self.map_offset_cov = None if map_offset_cov is None else \
            np.asarray(map_offset_cov, float).copy()
        self.stats = {'slam_accepted': 0, 'slam_rejected': 0, 'landmark_factors': 0,
                      'rebases': 0, 'keyframes': 0}
        # Range-bearing factors per landmark id over the whole run (resets included): which
        # of a known map's landmarks the run actually used.
        self.landmark_observations: Counter = Counter()
        # What is known of the odometry's heading drift survives a reset (a relocalisation or
        # a time jump does not change the robot's wheels and gyro): (mean, covariance).
        self.drift_prior = (np.zeros(2), np.diag(np.square(self._drift_sigma())))
        self.reset()

    def reset(self) -> None:
        """Forget the graph (after a time jump or a relocalisation), but not the drift."""
        if getattr(self, 'drift_last', None) is not None:
            try:
                self.drift_prior = (self.drift_est.copy(), np.asarray(
                    self.isam.marginalCovariance(self.drift_last[0])))
            except (RuntimeError, IndexError):
                # The newest drift variable is not in the solved graph yet (a reset right after
                # a new keyframe; gtsam raises IndexError): its estimate, the last covariance.
                self.drift_prior = (self.drift_est.copy(), self.drift_prior[1])
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
        self.known_priors: dict[int, tuple[np.ndarray, np.ndarray, bool]] = {}
        self.has_map_offset = False
        self.since_rebase = 0
        # SLAM bias variables: (key, stamp) of the newest, its estimate, and the joint
        # covariance of (newest keyframe, newest bias) — pose block in the body frame.
        self.bias_counter = 0
        self.bias_last: tuple[int, int] | None = None
        self.bias_est = np.zeros(3)
        self.joint_cov = np.zeros((6, 6))
        self._joint_stale: tuple | None = None   # (pose, bias) keys: joint_cov outdated
        # Odometry heading drift variables: (key, stamp) of the newest and its estimate.
        self.drift_counter = 0
        self.drift_last: tuple[int, int] | None = None
        self.drift_est = self.drift_prior[0].copy()

    @property
    def bias_enabled(self) -> bool:
        """Whether SLAM factors measure pose + a Gauss–Markov bias state."""
        return any(v > 0.0 for v in self.config.slam_bias_sigma) and \
            self.config.slam_bias_tau > 0.0

    @property
    def drift_enabled(self) -> bool:
        """Whether odometry factors carry a heading-drift state."""
        return any(v > 0.0 for v in self.config.odom_drift_sigma)

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
                   cov: np.ndarray, from_slam: bool = True) -> Keyframe:
        """
        Anchor the graph: first keyframe at ``pose`` with covariance ``cov`` (x/y in map).

        With the bias state the anchor is a SLAM-style factor on pose + bias (the bias with its
        zero-mean prior), so that later evidence can move the first pose's error into the bias.
        A pose from elsewhere (``from_slam`` False: a user's initial pose) is a plain prior on
        the pose: its error is not the SLAM stream's.
        """
        self.reset()
        kf = self._new_keyframe(stamp_ns, odom, pose)
        if self.drift_enabled:
            mean, drift_cov = self.drift_prior
            key = self._new_drift(stamp_ns, mean)
            self.graph.add(gtsam.PriorFactorVector(
                key, mean, gtsam.noiseModel.Gaussian.Covariance(drift_cov)))
        body = rotate_covariance(cov, -pose[2])
        self.latest_cov = body.copy()
        if self.bias_enabled:
            key = self._new_bias(stamp_ns, np.zeros(3))
            sig = self._bias_sigma()
            self.graph.add(gtsam.PriorFactorVector(key, np.zeros(3),
                                                   gtsam.noiseModel.Diagonal.Sigmas(sig)))
            if from_slam:
                white = cov * self.config.slam_white_scale ** 2
                self.graph.add(gtsam.CustomFactor(gtsam.noiseModel.Gaussian.Covariance(white),
                                                  gtsam.KeyVector([kf.key, key]),
                                                  slam_bias_error(np.asarray(pose, float))))
            else:
                self.graph.add(gtsam.PriorFactorPose2(
                    kf.key, _pose2(pose), gtsam.noiseModel.Gaussian.Covariance(body)))
            self.joint_cov = np.zeros((6, 6))
            self.joint_cov[:3, :3] = body
            self.joint_cov[3:, 3:] = np.diag(sig ** 2)
        else:
            self.graph.add(gtsam.PriorFactorPose2(kf.key, _pose2(pose),
                                                  gtsam.noiseModel.Gaussian.Covariance(body)))
        self.update()
        return kf

    def _bias_sigma(self) -> np.ndarray:
        return np.maximum(np.asarray(self.config.slam_bias_sigma, float), 1e-4)

    def _new_bias(self, stamp_ns: int, guess: np.ndarray) -> int:
        key = B(self.bias_counter)
        self.bias_counter += 1
        self.bias_last = (key, int(stamp_ns))
        self.values.insert(key, np.asarray(guess, float).copy())
        self.bias_est = np.asarray(guess, float).copy()
        return key

    def _bias_transition(self, stamp_ns: int) -> float:
        """Return ``a = exp(-dt/tau)`` from the newest bias variable to ``stamp_ns``."""
        dt = abs(stamp_ns - self.bias_last[1]) * 1e-9
        return math.exp(-dt / self.config.slam_bias_tau)

    def _refresh_joint(self) -> None:
        """Joint covariance of (newest keyframe, newest bias), computed only when asked."""
        if self._joint_stale is None:
            return
        xk, bk = self._joint_stale            # as of the last update
        try:
            joint = self.isam.jointMarginalCovariance(gtsam.KeyVector([xk, bk]))
            self.joint_cov = np.block([[joint.at(xk, xk), joint.at(xk, bk)],
                                       [joint.at(bk, xk), joint.at(bk, bk)]])
            self._joint_stale = None
        except (RuntimeError, IndexError):
            pass

    def _bias_for(self, stamp_ns: int) -> int:
        """Return the bias key for a SLAM measurement at ``stamp_ns`` (new one if due)."""
        key, last = self.bias_last
        if abs(stamp_ns - last) < self.config.slam_bias_step * 1e9:
            return key
        a = self._bias_transition(stamp_ns)
        new = self._new_bias(stamp_ns, a * self.bias_est)
        sig = self._bias_sigma() * math.sqrt(max(1.0 - a * a, 1e-6))
        self.graph.add(gtsam.CustomFactor(gtsam.noiseModel.Diagonal.Sigmas(sig),
                                          gtsam.KeyVector([key, new]),
                                          gauss_markov_error(a)))
        return new

    def _drift_sigma(self) -> np.ndarray:
        return np.maximum(np.asarray(self.config.odom_drift_sigma, float), 1e-9)

    def _new_drift(self, stamp_ns: int, guess: np.ndarray) -> int:
        key = D(self.drift_counter)
        self.drift_counter += 1
        self.drift_last = (key, int(stamp_ns))
        self.values.insert(key, np.asarray(guess, float).copy())
        self.drift_est = np.asarray(guess, float).copy()
        return key

    def _drift_for(self, stamp_ns: int) -> int:
        """Return the drift key for an odometry increment ending at ``stamp_ns``."""
        key, last = self.drift_last
        dt = (stamp_ns - last) * 1e-9
        if dt < self.config.odom_drift_step:
            return key
        new = self._new_drift(stamp_ns, self.drift_est)
        sig = np.maximum(np.asarray(self.config.odom_drift_walk, float) * math.sqrt(dt), 1e-12)
        self.graph.add(gtsam.CustomFactor(gtsam.noiseModel.Diagonal.Sigmas(sig),
                                          gtsam.KeyVector([key, new]), gauss_markov_error(1.0)))
        return new

    def undrift(self, delta: np.ndarray, dt: float) -> np.ndarray:
        """Return an odometry increment over ``dt`` s with the estimated heading drift removed."""
        if self.drift_last is None:
            return delta
        out = np.asarray(delta, float).copy()
        out[2] -= self.drift_est[0] * max(dt, 0.0) + self.drift_est[1] * math.hypot(out[0], out[1])
        return out

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
            dt = (stamp_ns - last.stamp_ns) * 1e-9
            guess = se2_compose(self.estimates[last.key], self.undrift(delta, dt))
            kf = self._new_keyframe(stamp_ns, odom, guess)
            noise = gtsam.noiseModel.Diagonal.Sigmas(self.odom_noise(delta, dt))
            if self.drift_last is not None:
                dkey = self._drift_for(stamp_ns)
                self.graph.add(gtsam.CustomFactor(
                    noise, gtsam.KeyVector([last.key, kf.key, dkey]),
                    odometry_drift_error(delta, dt, math.hypot(delta[0], delta[1]))))
            else:
                self.graph.add(gtsam.BetweenFactorPose2(last.key, kf.key, _pose2(delta), noise))
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
    def slam_innovation(self, kf: Keyframe, measured: np.ndarray, cov: np.ndarray,
                        stamp_ns: int | None = None) -> tuple[float, np.ndarray]:
        """
        Return (Mahalanobis², error vector) of a pose measurement at keyframe ``kf``.

        With the bias state, the prediction is pose + bias (the newest bias moved to
        ``stamp_ns`` by the Gauss–Markov model), with the joint uncertainty of both.
        """
        est = self.estimates[kf.key]
        if not self.bias_enabled or self.bias_last is None:
            pred = est
            s = cov + rotate_covariance(self.latest_cov, est[2])
        else:
            self._refresh_joint()
            a = self._bias_transition(kf.stamp_ns if stamp_ns is None else stamp_ns)
            pred = est + a * self.bias_est
            c, sn = math.cos(est[2]), math.sin(est[2])
            r = np.array([[c, -sn, 0.0], [sn, c, 0.0], [0.0, 0.0, 1.0]])
            m = np.hstack([r, a * np.eye(3)])          # d(pose + a bias)/d(body, bias)
            q = np.diag(self._bias_sigma() ** 2) * (1.0 - a * a)
            s = cov + m @ self.joint_cov @ m.T + q
        err = np.array([measured[0] - pred[0], measured[1] - pred[1],
                        float(wrap_angle(measured[2] - pred[2]))])
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
        gate_cov = cov + np.diag(sig ** 2)
        d2, _ = self.slam_innovation(kf, measured, gate_cov, stamp_ns)
        use_bias = self.bias_enabled and self.bias_last is not None
        if use_bias:                # the slow part of the SLAM error is the bias state's
            cov = cov * self.config.slam_white_scale ** 2
        cov = cov + np.diag(sig ** 2)
        if gate and d2 > self.config.slam_gate:
            self.stats['slam_rejected'] += 1
            return False, d2
        kernel = gtsam.noiseModel.mEstimator.Cauchy.Create(self.config.slam_kernel)
        if use_bias:
            bkey = self._bias_for(stamp_ns)
            noise = gtsam.noiseModel.Robust.Create(kernel,
                                                   gtsam.noiseModel.Gaussian.Covariance(cov))
            self.graph.add(gtsam.CustomFactor(noise, gtsam.KeyVector([kf.key, bkey]),
                                              slam_bias_error(measured)))
        else:
            noise = gtsam.noiseModel.Robust.Create(
                kernel, gtsam.noiseModel.Gaussian.Covariance(
                    rotate_covariance(cov, -measured[2])))
            self.graph.add(gtsam.PriorFactorPose2(kf.key, _pose2(measured), noise))
        self.stats['slam_accepted'] += 1
        return True, d2

    def add_landmark(self, ident: int, position: np.ndarray, cov: np.ndarray | None,
                     shares_offset: bool = False) -> None:
        """
        Create landmark ``ident``'s variable; with ``cov``, a prior (known map) too.

        :param shares_offset: ``cov`` is the landmark's own part and the map's offset
            (``map_offset_cov``) comes on top (a map saved by a mapping run).
        """
        key = L(ident)
        if key in self.landmark_keys:
            return
        self.landmark_keys.add(key)
        mean = np.asarray(position[:2], float).copy()
        self.values.insert(key, mean)
        self.landmark_est[ident] = mean.copy()
        if cov is None:
            return
        shares_offset = shares_offset and self.map_offset_cov is not None
        self.known_priors[ident] = (mean.copy(), cov.copy(), shares_offset)
        noise = gtsam.noiseModel.Gaussian.Covariance(cov)
        if shares_offset:
            # landmark - offset = mapped position: the offset is what the map got wrong.
            self._add_map_offset()
            self.graph.add(gtsam.BetweenFactorPoint2(MAP_OFFSET, key, mean, noise))
        else:
            self.graph.add(gtsam.PriorFactorPoint2(key, mean, noise))

    def _add_map_offset(self, mean: np.ndarray | None = None,
                        cov: np.ndarray | None = None) -> None:
        """Create the offset variable with its prior: the map's, or (re-base) a marginal."""
        if self.has_map_offset:
            return
        self.has_map_offset = True
        mean = np.zeros(2) if mean is None else mean
        cov = self.map_offset_cov if cov is None else cov
        self.values.insert(MAP_OFFSET, mean)
        self.graph.add(gtsam.PriorFactorPoint2(MAP_OFFSET, mean,
                                               gtsam.noiseModel.Gaussian.Covariance(cov)))

    def map_offset(self) -> np.ndarray | None:
        """Return the estimated shared offset of the known map (None without that variable)."""
        if not self.has_map_offset:
            return None
        try:
            return np.asarray(self.isam.calculateEstimatePoint2(MAP_OFFSET), float)
        except (RuntimeError, IndexError):
            return None

    def landmark_joint_covariance(self, idents: list[int]) -> np.ndarray | None:
        """Joint marginal covariance (2N x 2N) of landmarks ``idents`` (None if one lacks one)."""
        keys = [L(i) for i in idents]
        if not keys or any(k not in self.landmark_keys for k in keys):
            return None
        try:
            joint = self.isam.jointMarginalCovariance(gtsam.KeyVector(keys))
        except (RuntimeError, IndexError):
            return None
        return np.block([[joint.at(a, b) for b in keys] for a in keys])

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
        self.landmark_observations[ident] += 1

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
        if self.drift_last is not None:
            self.drift_est = np.asarray(self.isam.calculateEstimateVector(self.drift_last[0]),
                                        float)
        if self.bias_last is not None:
            self.bias_est = np.asarray(self.isam.calculateEstimateVector(self.bias_last[0]),
                                       float)
            self._joint_stale = (self.keyframes[-1].key, self.bias_last[0])
        try:
            self.latest_cov = np.asarray(self.isam.marginalCovariance(self.keyframes[-1].key))
        except RuntimeError:
            pass
        if self.since_rebase >= self.config.window:
            self.rebase()

    def smoothed_landmark(self, ident: int) -> np.ndarray | None:
        """
        Return the graph's current estimate of landmark ``ident`` (None without a variable).

        The landmark map is refreshed only for the landmarks of each update; this is the
        estimate given everything seen since (what a saved map should hold).
        """
        if L(ident) not in self.landmark_keys:
            return None
        try:
            return np.asarray(self.isam.calculateEstimatePoint2(L(ident)), float)
        except (RuntimeError, IndexError):
            return self.landmark_est.get(ident)

    def landmark_covariance(self, ident: int) -> np.ndarray | None:
        """Marginal covariance of a landmark (None when it has no variable)."""
        if L(ident) not in self.landmark_keys:
            return None
        try:
            return np.asarray(self.isam.marginalCovariance(L(ident)))
        except RuntimeError:
            return None

    def rebase(self) -> None:
        """
        Start a fresh iSAM2 from the newest keyframe, SLAM bias and drift, and the landmarks.

        With ``rebase_joint`` their joint marginal (one dense Gaussian, kept as a linear factor
        at the current estimate) carries everything the old graph knew, landmark–landmark and
        pose–landmark correlations included: a known map's landmarks keep what the run has
        learnt about them. Otherwise (more than ``rebase_joint_max_landmarks`` landmarks, or the
        joint marginal fails) the pose, SLAM bias and drift get their joint marginal, each
        landmark its own inflated marginal, known landmarks their map prior again and a known
        map's shared offset its marginal.
        """
        if self.config.rebase_joint and \
                len(self.landmark_keys) <= self.config.rebase_joint_max_landmarks:
            try:
                self._rebase_joint()
                return
            except RuntimeError:
                pass
        last = self.keyframes[-1]
        pose = self.estimates[last.key]
        core, core_cov = self._core_marginal(last)
        lms = {}
        for key in self.landmark_keys:
            ident = gtsam.Symbol(key).index()
            est = np.asarray(self.isam.calculateEstimatePoint2(key), float)
            if ident in self.known_priors:
                lms[ident] = (est, None, self.known_priors[ident])
            else:
                lcov = np.asarray(self.isam.marginalCovariance(key))
                lms[ident] = (est, lcov * 2.0 + np.eye(2) * 1e-4, None)
        # The map's offset keeps what the run learnt (its marginal): the known landmarks' own
        # priors, added again below, say nothing about it on their own.
        offset = None
        if self.has_map_offset:
            offset = (np.asarray(self.isam.calculateEstimatePoint2(MAP_OFFSET), float),
                      np.asarray(self.isam.marginalCovariance(MAP_OFFSET)))
        self.isam = gtsam.ISAM2(self._params)
        self.graph = gtsam.NonlinearFactorGraph()
        self.values = gtsam.Values()
        self.has_map_offset = False
        if offset is not None:
            self._add_map_offset(*offset)
        self.keyframes = [last]
        self.estimates = {last.key: pose}
        # Pose, SLAM bias and drift keep their correlations: SLAM measures pose + bias much
        # better than either, and the heading and the drift move together.
        lin = gtsam.Values()
        lin.insert(last.key, _pose2(pose))
        if self.bias_last is not None:
            lin.insert(self.bias_last[0], self.bias_est.copy())
        if self.drift_last is not None:
            lin.insert(self.drift_last[0], self.drift_est.copy())
        self.values.insert(lin)
        # Inflated ×1.5 (this re-base forgets on purpose), except the drift: a calibration of
        # the odometry, which re-base after re-base would otherwise forget entirely.
        scale = np.full(len(core_cov), math.sqrt(1.5))
        if self.drift_last is not None:
            scale[-2:] = 1.0
        info = np.linalg.inv(core_cov * np.outer(scale, scale) + np.eye(len(core_cov)) * 1e-9)
        self.graph.add(gtsam.LinearContainerFactor(dense_prior(core, info), lin))
        self.landmark_keys = set()
        for ident, (est, lcov, known) in lms.items():
            if known is not None:
                self.add_landmark(ident, known[0], known[1], known[2])
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

    def _core_marginal(self, last: Keyframe) -> tuple[list[int], np.ndarray]:
        """Keys of the newest keyframe, SLAM bias and drift, and their joint covariance."""
        core = [last.key] + ([self.bias_last[0]] if self.bias_last is not None else [])
        core += [self.drift_last[0]] if self.drift_last is not None else []
        try:
            joint = self.isam.jointMarginalCovariance(gtsam.KeyVector(core))
            cov = np.block([[joint.at(a, b) for b in core] for a in core])
        except (RuntimeError, IndexError):     # what is known without the graph's help
            blocks = [self.latest_cov]
            blocks += [np.diag(self._bias_sigma() ** 2)] if self.bias_last is not None else []
            blocks += [self.drift_prior[1]] if self.drift_last is not None else []
            cov = np.zeros((sum(len(b) for b in blocks),) * 2)
            k = 0
            for b in blocks:
                cov[k:k + len(b), k:k + len(b)] = b
                k += len(b)
        if self.drift_last is not None:
            self.drift_prior = (self.drift_est.copy(), cov[-2:, -2:].copy())
        return core, cov

    def _rebase_joint(self) -> None:
        last = self.keyframes[-1]
        keys = [last.key] + ([self.bias_last[0]] if self.bias_last is not None else [])
        keys += [self.drift_last[0]] if self.drift_last is not None else []
        keys += sorted(self.landmark_keys) + ([MAP_OFFSET] if self.has_map_offset else [])
        joint = self.isam.jointMarginalCovariance(gtsam.KeyVector(keys))
        cov = np.block([[joint.at(a, b) for b in keys] for a in keys])
        info = np.linalg.inv(cov * self.config.rebase_inflate + np.eye(len(cov)) * 1e-9)
        lin = gtsam.Values()
        lin.insert(last.key, _pose2(self.estimates[last.key]))
        if self.bias_last is not None:
            self.bias_est = np.asarray(self.isam.calculateEstimateVector(keys[1]), float)
            lin.insert(keys[1], self.bias_est.copy())
        if self.drift_last is not None:
            dkey = self.drift_last[0]
            self.drift_est = np.asarray(self.isam.calculateEstimateVector(dkey), float)
            lin.insert(dkey, self.drift_est.copy())
            self.drift_prior = (self.drift_est.copy(), joint.at(dkey, dkey).copy())
        for key in self.landmark_keys:
            ident = gtsam.Symbol(key).index()
            self.landmark_est[ident] = np.asarray(self.isam.calculateEstimatePoint2(key), float)
            lin.insert(key, self.landmark_est[ident].copy())
        if self.has_map_offset:
            lin.insert(MAP_OFFSET, np.asarray(self.isam.calculateEstimatePoint2(MAP_OFFSET),
                                              float))
        self.isam = gtsam.ISAM2(self._params)
        self.graph = gtsam.NonlinearFactorGraph()
        self.graph.add(gtsam.LinearContainerFactor(dense_prior(keys, info), lin))
        self.keyframes = [last]
        self.estimates = {last.key: self.estimates[last.key]}
        self.since_rebase = 0
        self.stats['rebases'] += 1
        self.isam.update(self.graph, lin)
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
        dt = abs(stamp_ns - kf.stamp_ns) * 1e-9
        delta = self.undrift(se2_between(kf.odom, odom), dt)
        pose = se2_compose(self.estimates[kf.key], delta)
        # Covariance in the body frame: move the keyframe's through the increment, add noise.
        c, s = math.cos(delta[2]), math.sin(delta[2])
        ad_inv = np.array([[c, s, s * delta[0] - c * delta[1]],
                           [-s, c, c * delta[0] + s * delta[1]], [0.0, 0.0, 1.0]])
        sig = self.odom_noise(delta, dt)
        cov = ad_inv @ self.latest_cov @ ad_inv.T + np.diag(sig ** 2)
        return pose, rotate_covariance(cov, pose[2])
