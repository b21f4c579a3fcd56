"""Landmark map: class + Mahalanobis gating, pillar ambiguity, online map, save/load."""

import numpy as np

from ros2_infer.core.landmark_map import Landmark, load_landmark_map, save_landmark_map
from ros2_infer.core.landmarks import LandmarkMap, Observation

PILLARS = [Landmark(i + 1, 'pillar', (x, y, 0.25), (0.3, 0.3, 0.5))
           for i, (x, y) in enumerate((x, y) for x in (-1.1, 0.0, 1.1) for y in (-1.1, 0.0, 1.1))]
CONE = Landmark(10, 'traffic_cone', (0.55, 0.6, 0.16), (0.28, 0.28, 0.32))


def _obs(cls, xy, robot=(0.5, -0.5, 0.0), sigma=0.02):
    return Observation(cls, np.array(xy, float), np.eye(2) * sigma ** 2, np.array(robot))


def test_class_and_mahalanobis_gating():
    m = LandmarkMap(PILLARS + [CONE], prior_sigma=0.02)
    small = np.diag([0.02 ** 2, 0.02 ** 2, 0.005 ** 2])
    a = m.associate([_obs('pillar', (1.12, 0.01)), _obs('traffic_cone', (0.56, 0.58)),
                     _obs('pillar', (0.55, 0.55))], small)
    assert a.ids == [8, 10, None]
    # a cone is never associated to a pillar, however close
    assert m.associate([_obs('traffic_cone', (0.0, 0.0))], small).ids == [None]


def test_identical_pillars_with_a_large_pose_error_are_ambiguous():
    m = LandmarkMap(PILLARS, prior_sigma=0.02)
    big = np.diag([0.8 ** 2, 0.8 ** 2, 0.05 ** 2])     # ~1 m initial error / kidnapped robot
    a = m.associate([_obs('pillar', (0.6, 0.05))], big)
    assert a.ids == [None] and a.ambiguous == [True]
    # with a small pose uncertainty the same observation is just out of every gate
    small = np.diag([0.02 ** 2, 0.02 ** 2, 0.005 ** 2])
    a = m.associate([_obs('pillar', (0.6, 0.05))], small)
    assert a.ids == [None] and a.ambiguous == [False]


def test_joint_compatibility_uses_a_unique_object_to_resolve_pillars():
    m = LandmarkMap(PILLARS + [CONE], prior_sigma=0.02)
    big = np.diag([0.8 ** 2, 0.8 ** 2, 0.02 ** 2])
    shift = np.array([0.9, 0.0])        # the pose estimate is 0.9 m off in x
    obs = [_obs('pillar', np.array(PILLARS[4].position[:2]) + shift),
           _obs('pillar', np.array(PILLARS[5].position[:2]) + shift),
           _obs('traffic_cone', np.array(CONE.position[:2]) + shift)]
    a = m.associate(obs, big)
    assert a.ids == [5, 6, 10]
    assert not any(a.ambiguous)


def test_online_map_confirms_and_saves(tmp_path):
    m = LandmarkMap(confirm_after=3)
    for k in range(3):
        ident, confirmed = m.propose(_obs('barrel', (1.0 + 0.01 * k, 2.0)))
        assert confirmed == (k == 2)
    assert m.propose(_obs('barrel', (1.05, 2.0))) == (None, False)   # next to a landmark
    m.propose(_obs('barrel', (2.5, 2.0)))                              # tentative only
    saved = m.to_landmarks()
    assert len(saved) == 1 and np.allclose(saved[0].position[:2], (1.01, 2.0))
    save_landmark_map(tmp_path / 'map.yaml', saved)
    frame, loaded = load_landmark_map(tmp_path / 'map.yaml')
    assert frame == 'map' and loaded == saved


def test_misclassifications_neither_duplicate_nor_relabel_an_object():
    m = LandmarkMap(confirm_after=3)
    # A barrel seen five times, twice called a traffic cone: one landmark, a barrel.
    for cls in ('barrel', 'traffic_cone', 'barrel', 'traffic_cone', 'barrel'):
        m.propose(_obs(cls, (1.0 + 0.01 * len(m.landmarks), 2.0)))
    assert [(lm.class_name, lm.confirmed) for lm in m.landmarks.values()] == [('barrel', True)]
    # Once confirmed, a wrong label next to it is not a new object either.
    assert m.propose(_obs('ball', (1.1, 2.05))) == (None, False)
    assert len(m.landmarks) == 1
    # A tentative landmark takes the majority class of its observations when confirmed.
    for cls in ('box', 'ball', 'ball'):
        ident, confirmed = m.propose(_obs(cls, (3.0, 0.5)))
    assert confirmed and m.landmarks[ident].class_name == 'ball'
