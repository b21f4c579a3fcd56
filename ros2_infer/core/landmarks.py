"""
Landmark map with class + Mahalanobis gating and joint-compatibility association.

The nine pillars of turtlebot3_world are identical: one pillar seen alone with a 1 m pose error
matches the wrong pillar as happily as the right one. Association is therefore done per image
as a joint-compatibility search (JCBB): all observations of one frame share the same robot-pose
error, so a hypothesis is scored by the joint innovation after solving for a common pose
correction; an observation whose best pairing is not unique (a second, different jointly
compatible hypothesis scores almost as well) is reported as ambiguous and not used.
"""

from dataclasses import dataclass, field
import math

import numpy as np

from ros2_infer.core.landmark_map import Cov2, cov2_matrix, Landmark

CHI2_2 = 9.21      # 99 % of chi-square, 2 dof
CHI2_JOINT = {1: 9.21, 2: 13.28, 3: 16.81, 4: 20.09, 5: 23.21, 6: 26.22, 7: 29.14, 8: 32.0}


@dataclass
class MapLandmark:
    """A landmark of the map: planar mean and covariance, class, size and bookkeeping."""

    id: int  # noqa: A003 - vision_msgs term
    class_name: str
    position: np.ndarray               # (2,) map frame
    covariance: np.ndarray             # (2, 2)
    z: float = 0.0
    size: tuple[float, float, float] = (0.3, 0.3, 0.3)
    known: bool = False                # from a prior map
    n_obs: int = 0
    confirmed: bool = True
    samples: list = field(default_factory=list)
    class_votes: dict = field(default_factory=dict)   # tentative: class name -> observations
    # known: (mapped position, own covariance, whether the map's shared offset comes on top)
    prior: tuple | None = None


@dataclass
class Observation:
    """One object observation in the map frame, with the robot pose it was made from."""

    class_name: str
    position: np.ndarray               # (2,) map frame (through the current pose estimate)
    covariance: np.ndarray             # (2, 2) measurement only (no pose uncertainty)
    robot: np.ndarray                  # (3,) pose estimate (x, y, yaw) used
    size: tuple[float, float, float] = (0.3, 0.3, 0.3)


@dataclass
class Association:
    """Result for one frame: landmark id per observation (None) and ambiguity flags."""

    ids: list
    ambiguous: list
    joint_nis: float = 0.0


class LandmarkMap:
    """
    The landmark map: known (from a YAML map) and/or built online.

    :param known: landmarks of a prior map (used only when given).
    :param prior_sigma: 1-σ position uncertainty (m) of known landmarks without a covariance.
    :param confirm_after: online landmarks become usable after this many observations.
    :param offset_covariance: the known map's shared-offset covariance (with the landmarks'
        own covariances: a map saved by a mapping run).
    """

    def __init__(self, known: list[Landmark] | None = None, prior_sigma: float = 0.03,
                 confirm_after: int = 3, min_separation: float = 0.45,
                 offset_covariance: Cov2 | None = None) -> None:
        """Create the map, optionally seeded with known landmarks."""
        self.landmarks: dict[int, MapLandmark] = {}
        self.prior_sigma = prior_sigma
        self.confirm_after = confirm_after
        self.min_separation = min_separation
        self.next_id = 1
        offset = None if offset_covariance is None else cov2_matrix(offset_covariance)
        for lm in known or []:
            position = np.array(lm.position[:2], float)
            shares = offset is not None and lm.covariance is not None
            own = cov2_matrix(lm.covariance) if lm.covariance is not None else \
                np.eye(2) * prior_sigma ** 2
            # Gating needs the whole uncertainty of the landmark: its own and the shared one.
            self.landmarks[lm.id] = MapLandmark(
                lm.id, lm.class_name, position, own + offset if shares else own,
                float(lm.position[2]), tuple(lm.size), True,
                prior=(position.copy(), own, shares))
            self.next_id = max(self.next_id, lm.id + 1)
        self.stats = {'associated': 0, 'ambiguous': 0, 'new': 0, 'unmatched': 0}

    def __len__(self) -> int:
        return len(self.landmarks)

    def usable(self) -> list[MapLandmark]:
        """Landmarks that may be associated (known or confirmed)."""
        return [lm for lm in self.landmarks.values() if lm.confirmed]

    # ------------------------------------------------------------------ association
    def associate(self, observations: list[Observation], pose_cov: np.ndarray,
                  max_nodes: int = 3000) -> Association:
        """
        Associate one frame's observations jointly.

        :param pose_cov: 3x3 covariance of the robot pose (x, y, yaw) in the map frame.
        """
        n = len(observations)
        if n == 0:
            return Association([], [])
        cands = [self._candidates(o, pose_cov) for o in observations]
        best: list = [None, -1, math.inf]     # assignment, pairs, nis
        runners: list = []
        nodes = [0]
        jac = [self._jacobian(o) for o in observations]

        def joint_nis(assign):
            pairs = [(i, j) for i, j in enumerate(assign) if j is not None]
            if not pairs:
                return 0.0
            # min over pose correction d: sum |r_i - J_i d|^2_{S_i} + d' P^-1 d (linear LS)
            info = np.linalg.inv(pose_cov + np.eye(3) * 1e-9)
            a = info.copy()
            b = np.zeros(3)
            c = 0.0
            for i, j in pairs:
                lm = self.landmarks[j]
                r = lm.position - observations[i].position
                s_inv = np.linalg.inv(observations[i].covariance + lm.covariance)
                a += jac[i].T @ s_inv @ jac[i]
                b += jac[i].T @ s_inv @ r
                c += r @ s_inv @ r
            return float(c - b @ np.linalg.solve(a, b))

        def search(i, assign, used):
            nodes[0] += 1
            if nodes[0] > max_nodes:
                return
            if i == n:
                pairs = sum(j is not None for j in assign)
                if pairs == 0:
                    return
                nis = joint_nis(assign)
                if nis > CHI2_JOINT.get(pairs, 2.0 * pairs + 16):
                    return
                runners.append((pairs, nis, list(assign)))
                if pairs > best[1] or (pairs == best[1] and nis < best[2]):
                    best[:] = [list(assign), pairs, nis]
                return
            # remaining pairs cannot beat the best: prune
            possible = sum(1 for a in assign if a is not None) + (n - i)
            if possible < best[1]:
                return
            for j in cands[i]:
                if j in used:
                    continue
                assign.append(j)
                used.add(j)
                if joint_nis(assign + [None] * (n - i - 1)) <= CHI2_JOINT.get(
                        sum(a is not None for a in assign), 40.0):
                    search(i + 1, assign, used)
                used.discard(j)
                assign.pop()
            assign.append(None)
            search(i + 1, assign, used)
            assign.pop()

        search(0, [], set())
        if best[0] is None:
            self.stats['unmatched'] += n
            return Association([None] * n, [bool(c) for c in cands])
        ids = list(best[0])
        ambiguous = [False] * n
        # A rival with as many pairings, nearly as good and different on some observation
        # makes those observations ambiguous (identical pillars seen with a large pose error).
        for pairs, nis, assign in runners:
            if pairs == best[1] and assign != best[0] and nis < best[2] + 6.0:
                for i in range(n):
                    if assign[i] != best[0][i]:
                        ambiguous[i] = True
        for i in range(n):
            if ambiguous[i]:
                ids[i] = None
        self.stats['associated'] += sum(i is not None for i in ids)
        self.stats['ambiguous'] += sum(ambiguous)
        self.stats['unmatched'] += sum(i is None and not a for i, a in zip(ids, ambiguous))
        return Association(ids, ambiguous, best[2])

    def _jacobian(self, obs: Observation) -> np.ndarray:
        # d(observation in map)/d(pose correction x, y, yaw about the robot position)
        dx, dy = obs.position - obs.robot[:2]
        return np.array([[1.0, 0.0, -dy], [0.0, 1.0, dx]])

    def _candidates(self, obs: Observation, pose_cov: np.ndarray) -> list[int]:
        out = []
        j = self._jacobian(obs)
        s0 = obs.covariance + j @ pose_cov @ j.T
        for lm in self.landmarks.values():
            if not lm.confirmed or lm.class_name != obs.class_name:
                continue
            r = lm.position - obs.position
            s = s0 + lm.covariance
            d2 = float(r @ np.linalg.solve(s, r))
            if d2 < CHI2_2:
                out.append((d2, lm.id))
        return [i for _, i in sorted(out)]

    # ------------------------------------------------------------------ online map
    def propose(self, obs: Observation) -> tuple[int | None, bool]:
        """
        Feed an unassociated, unambiguous observation to the online map.

        :return: ``(id, confirmed_now)``: the tentative landmark the observation went to (None
            when it fell next to an already confirmed landmark) and whether that landmark has
            just been confirmed.
        """
        # Two objects are never closer than min_separation: an observation there is the same
        # object, whatever the detector called it this time. A confirmed landmark keeps its
        # class (a misclassification must not spawn a duplicate next to it); a tentative one
        # takes the class most of its observations had when it is confirmed.
        near = [lm for lm in self.landmarks.values()
                if np.linalg.norm(lm.position - obs.position) < self.min_separation]
        if any(lm.confirmed for lm in near):
            return None, False
        if near:
            lm = min(near, key=lambda m: np.linalg.norm(m.position - obs.position))
            lm.samples.append(obs.position.copy())
            lm.n_obs += 1
            lm.class_votes[obs.class_name] = lm.class_votes.get(obs.class_name, 0) + 1
            lm.position = np.mean(lm.samples, axis=0)
            if lm.n_obs >= self.confirm_after:
                lm.class_name = max(lm.class_votes, key=lm.class_votes.get)
                lm.confirmed = True
                lm.covariance = obs.covariance + np.eye(2) * 0.05 ** 2
                self.stats['new'] += 1
                return lm.id, True
            return lm.id, False
        ident = self.next_id
        self.next_id += 1
        confirmed = self.confirm_after <= 1
        self.landmarks[ident] = MapLandmark(
            ident, obs.class_name, obs.position.copy(), obs.covariance.copy(),
            z=obs.size[2] / 2, size=tuple(obs.size), confirmed=confirmed, n_obs=1,
            samples=[obs.position.copy()], class_votes={obs.class_name: 1})
        self.stats['new'] += int(confirmed)
        return ident, confirmed

    def update_estimate(self, ident: int, position: np.ndarray, cov: np.ndarray | None) -> None:
        """Write back a landmark's estimate from the localizer."""
        lm = self.landmarks[ident]
        lm.position = np.asarray(position, float)[:2].copy()
        if cov is not None:
            lm.covariance = np.asarray(cov, float)[:2, :2].copy()

    def drop_tentative(self) -> None:
        """Forget unconfirmed landmarks (after a relocalisation)."""
        self.landmarks = {k: v for k, v in self.landmarks.items() if v.confirmed}

    def to_landmarks(self, confirmed_only: bool = True) -> list[Landmark]:
        """Return the map as :class:`Landmark` s for ``save_landmark_map``."""
        out = []
        for lm in sorted(self.landmarks.values(), key=lambda m: m.id):
            if confirmed_only and not lm.confirmed:
                continue
            z = lm.z if lm.z > 0 else lm.size[2] / 2
            out.append(Landmark(int(lm.id), lm.class_name,
                                (float(lm.position[0]), float(lm.position[1]), float(z)),
                                tuple(float(v) for v in lm.size), 0.0))
        return out
