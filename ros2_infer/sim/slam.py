"""
SLAM/localisation stream: a late, biased, noisy estimate of the map pose.

AMCL, slam_toolbox or Cartographer style publication.

Error model (per axis x, y, yaw), evaluated at each published stamp t:
``estimate(t) = truth(t) + bias(t) + white``, where ``bias`` is an Ornstein-Uhlenbeck process
(stationary sigma ``bias_sigma_xy`` / ``bias_sigma_yaw``, correlation time ``bias_tau``) that also
receives re-localisation jumps (Poisson, rate ``jump_rate`` per second, size
N(0, ``jump_sigma_xy``)) which then decay with ``bias_tau``; ``white`` is N(0, ``white_sigma_xy``
/ ``white_sigma_yaw``). Optional dropouts (Poisson rate ``dropout_rate``, each
``dropout_duration`` s long) suppress output. Output reaches the bag ``latency`` s after its stamp.
"""

from dataclasses import dataclass, fields, replace
import math

import numpy as np

from ros2_infer.core.errors import InputError

SLAM_STYLES = ('amcl', 'slam_toolbox', 'cartographer')


@dataclass(frozen=True)
class SlamProfile:
    """A named, swappable parameter set of the SLAM error model."""

    name: str
    bias_sigma_xy: float
    bias_sigma_yaw: float
    bias_tau: float
    white_sigma_xy: float
    white_sigma_yaw: float
    jump_rate: float
    jump_sigma_xy: float
    dropout_rate: float = 0.0
    dropout_duration: float = 2.0
    latency: float = 0.150

    def as_dict(self) -> dict[str, float]:
        """Return the parameters as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


PROFILES: dict[str, SlamProfile] = {p.name: p for p in [
    # Tuned so the unaligned ATE over 3 min is ~5-12 cm (AMCL 4-12 cm in the TurtleBot3 sim).
    SlamProfile('amcl', 0.045, 0.02, 15.0, 0.015, 0.01, 1 / 60, 0.08),
    SlamProfile('slam_toolbox', 0.04, 0.015, 30.0, 0.01, 0.008, 1 / 90, 0.06),
    SlamProfile('cartographer', 0.05, 0.02, 20.0, 0.008, 0.005, 1 / 45, 0.08),
    # Worse conditions: larger bias, more jumps, dropouts.
    SlamProfile('degraded', 0.08, 0.04, 10.0, 0.03, 0.02, 1 / 30, 0.15, 1 / 40, 3.0),
    SlamProfile('perfect', 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0),
]}
DEFAULT_PROFILE = {'amcl': 'amcl', 'slam_toolbox': 'slam_toolbox',
                   'cartographer': 'cartographer'}
PUBLISH_THRESHOLDS = {'amcl': (0.25, 0.2), 'slam_toolbox': (0.5, 0.5)}  # (m, rad)
# Hz of the map->odom TF in cartographer style: pose_publish_period_sec = 5e-3 in
# turtlebot3_lds_2d.lua (the estimate itself is new at each scan).
CARTOGRAPHER_RATE = 200.0


def get_profile(name: str, latency: float | None = None) -> SlamProfile:
    """Return the profile ``name``, optionally with another latency (s)."""
    if name not in PROFILES:
        raise InputError(f'unknown SLAM profile {name!r}; expected one of {sorted(PROFILES)}')
    profile = PROFILES[name]
    return profile if latency is None else replace(profile, latency=float(latency))


class SlamErrorProcess:
    """Pre-sampled bias process on a 10 Hz grid; query the error at any stamp."""

    GRID = 0.1

    def __init__(self, profile: SlamProfile, duration: float, rng: np.random.Generator) -> None:
        """Sample the bias, jumps and dropouts for ``duration`` seconds."""
        self.profile = profile
        n = int(math.ceil(duration / self.GRID)) + 2
        a = math.exp(-self.GRID / profile.bias_tau)
        q = math.sqrt(1 - a * a)
        sig = np.array([profile.bias_sigma_xy, profile.bias_sigma_xy, profile.bias_sigma_yaw])
        noise = rng.normal(0.0, 1.0, (n, 3)) * sig * q
        jumps = rng.random(n) < profile.jump_rate * self.GRID
        jump_vals = rng.normal(0.0, 1.0, (n, 3)) * np.array(
            [profile.jump_sigma_xy, profile.jump_sigma_xy, profile.jump_sigma_xy / 2])
        bias = np.zeros((n, 3))
        b = rng.normal(0.0, 1.0, 3) * sig
        for k in range(n):
            b = a * b + noise[k] + (jump_vals[k] if jumps[k] else 0.0)
            bias[k] = b
        self.bias = bias
        self.jump_times = np.nonzero(jumps)[0] * self.GRID
        self.dropouts: list[tuple[float, float]] = []
        t = 0.0
        while profile.dropout_rate > 0:
            t += rng.exponential(1.0 / profile.dropout_rate)
            if t >= duration:
                break
            self.dropouts.append((t, t + profile.dropout_duration))
        self._rng = rng

    def active(self, t: float) -> bool:
        """Return False inside a dropout."""
        return not any(a <= t < b for a, b in self.dropouts)

    def error(self, t: float) -> np.ndarray:
        """Return the (dx, dy, dyaw) error at stamp ``t``: bias + fresh white noise."""
        f = min(max(t / self.GRID, 0.0), len(self.bias) - 1.000001)
        k = int(f)
        u = f - k
        b = self.bias[k] * (1 - u) + self.bias[k + 1] * u
        p = self.profile
        return b + self._rng.normal(0.0, 1.0, 3) * np.array(
            [p.white_sigma_xy, p.white_sigma_xy, p.white_sigma_yaw])


def covariance(profile: SlamProfile) -> list[float]:
    """
    Return a 6x6 row-major covariance as AMCL fills it.

    AMCL sets only the x/y block (indices 0, 1, 6, 7) and yaw-yaw (35); every other entry is 0.
    """
    cov = [0.0] * 36
    var_xy = profile.bias_sigma_xy ** 2 + profile.white_sigma_xy ** 2
    cov[0] = cov[7] = max(var_xy, 1e-6)
    cov[35] = max(profile.bias_sigma_yaw ** 2 + profile.white_sigma_yaw ** 2, 1e-6)
    return cov
