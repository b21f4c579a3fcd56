"""The evaluator's references (``tools/eval_localization.py``), checked on made-up runs."""

import importlib.util
from pathlib import Path
import types

import numpy as np
import pytest

pytest.importorskip('gtsam')          # the tool imports the fusion pipeline

from ros2_infer.core.landmark_map import Landmark  # noqa: E402, I100 (after the skip)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('eval_localization',
                                                  ROOT / 'tools' / 'eval_localization.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_perturbed_map_reference_weighs_the_observed_landmarks_against_slam(tool):
    truth = [Landmark(i, 'pillar', (float(i), 0.0, 0.25), (0.3, 0.3, 0.5)) for i in (1, 2, 3)]
    moves = [(0.02, 0.0), (0.04, -0.02), (0.5, 0.5)]
    known = [Landmark(lm.id, lm.class_name, (lm.position[0] + dx, lm.position[1] + dy,
                                             lm.position[2]), lm.size)
             for lm, (dx, dy) in zip(truth, moves)]
    pipe = types.SimpleNamespace(localizer=types.SimpleNamespace(
        landmark_observations={1: 5, 2: 1, 3: 0}))
    slam = np.array([[0.0, -0.03, 0.01, 0.0], [1.0, -0.05, 0.03, 0.0]])   # mean (-4, +2) cm
    fused = np.array([[0.0, 0.01, 0.0, 0.0]])
    ref = tool.perturbed_map_reference(pipe, truth, known, slam, 0.02 ** 2, fused, sigma=0.05)
    assert ref['landmarks_observed'] == 2
    assert ref['map_mean_m'] == pytest.approx([0.03, -0.01])          # landmark 3 never seen
    w = (2 / 0.05 ** 2) / (2 / 0.05 ** 2 + 1 / 0.02 ** 2)
    assert ref['map_weight'] == pytest.approx(w)
    expected = [w * 0.03 + (1 - w) * -0.04, w * -0.01 + (1 - w) * 0.02]
    assert ref['reference_m'] == pytest.approx(expected)
    assert ref['reference_offset_m'] == pytest.approx(np.hypot(*expected))
    assert ref['fused_mean_m'] == pytest.approx([0.01, 0.0])
    # No landmark observed: the map says nothing about the frame, SLAM's run mean is all.
    pipe.localizer.landmark_observations = {}
    alone = tool.perturbed_map_reference(pipe, truth, known, slam, 0.02 ** 2, fused)
    assert alone['map_weight'] == 0.0 and alone['reference_m'] == pytest.approx([-0.04, 0.02])


def test_a_saved_maps_offset_is_its_observed_landmarks_mean_error_against_the_truth(tool):
    saved = [Landmark(1, 'pillar', (1.03, 0.01, 0.25), (0.3, 0.3, 0.5)),
             Landmark(2, 'pillar', (2.01, 1.03, 0.25), (0.3, 0.3, 0.5)),
             Landmark(3, 'barrel', (5.0, 5.0, 0.3), (0.4, 0.4, 0.6)),
             Landmark(4, 'pillar', (2.02, 1.04, 0.25), (0.3, 0.3, 0.5)),
             Landmark(5, 'pillar', (1.0, 0.8, 0.25), (0.3, 0.3, 0.5))]   # 5: no such pillar
    gt_objects = {'a': ('pillar', np.array([1.0, 0.0, 0.25])),
                  'b': ('pillar', np.array([2.0, 1.0, 0.25])),
                  'c': ('barrel', np.array([4.0, 4.0, 0.3]))}
    # Landmark 3 was never seen; 7 is one the localisation run made online.
    pipe = types.SimpleNamespace(localizer=types.SimpleNamespace(
        landmark_observations={1: 4, 2: 2, 3: 0, 4: 1, 5: 3, 7: 5}))
    slam = np.array([[0.0, 0.0, 0.0, 0.0]])
    ref = tool.saved_map_reference(pipe, saved, gt_objects, slam, 0.02 ** 2, slam,
                                   var_map=0.02 ** 2)
    assert ref['landmarks_observed'] == 3                       # 5 is 0.8 m from any pillar
    assert ref['map_mean_m'] == pytest.approx([0.02, 0.03])     # per-axis median of 1, 2, 4
    assert ref['map_weight'] == pytest.approx(0.5)              # as uncertain as SLAM's mean
    assert ref['reference_m'] == pytest.approx([0.01, 0.015])


def test_the_slam_mean_spread_is_taken_at_the_streams_own_samples(tool, monkeypatch):
    # Two bias paths on the simulator's 0.1 s grid: one zero, one growing 1 cm per step.
    paths = np.zeros((2, 20, 2))
    paths[1] = np.arange(20)[:, None] * 0.01
    monkeypatch.setattr(tool, '_bias_paths', lambda profile, duration: paths)
    t0 = 1_700_000_000 * 10 ** 9
    stream = [(t0 + int(dt * 1e9), 0.0, 0.0, 0.0) for dt in (0.0, 0.05, 0.2)]
    # Path 1 at the samples: 0, 0.5 and 2 cm (interpolated), mean 0.83 cm; path 0: 0.
    assert tool.slam_mean_sigma(stream) == pytest.approx(0.025 / 3 / 2)
    # Samples bunched late in the path see more of its growth than ones spread evenly.
    late = [(t0 + int(dt * 1e9), 0.0, 0.0, 0.0) for dt in (0.0, 1.5, 1.6, 1.7)]
    even = [(t0 + int(dt * 1e9), 0.0, 0.0, 0.0) for dt in (0.0, 0.6, 1.1, 1.7)]
    assert tool.slam_mean_sigma(late) > tool.slam_mean_sigma(even)
