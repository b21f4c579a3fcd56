"""Tests of the landmark-map YAML (ros2_infer.core.landmark_map)."""

import math

import numpy as np
import pytest

from ros2_infer.core.errors import InputError
from ros2_infer.core.landmark_map import (cov2_matrix, Landmark, LandmarkMapFile,
                                          load_landmark_map, merge_landmark_maps,
                                          merge_map_files, read_landmark_map, save_landmark_map,
                                          split_offset_covariance)


def test_roundtrip(tmp_path):
    landmarks = [Landmark(1, 'pillar', (-1.1, 0.0, 0.25), (0.3, 0.3, 0.5), 0.0),
                 Landmark(12, 'traffic_cone', (0.5, -1.5, 0.16), (0.28, 0.28, 0.32), 1.2)]
    path = tmp_path / 'sub' / 'map.yaml'
    save_landmark_map(path, landmarks, frame_id='map')
    frame, loaded = load_landmark_map(path)
    assert frame == 'map'
    assert loaded == landmarks
    assert 'class: traffic_cone' in path.read_text()
    assert 'covariance' not in path.read_text()
    assert read_landmark_map(path).offset_covariance is None


def test_roundtrip_with_uncertainty(tmp_path):
    landmarks = [Landmark(1, 'pillar', (-1.1, 0.0, 0.25), (0.3, 0.3, 0.5), 0.0,
                          (4e-5, 1e-6, 3e-5)),
                 Landmark(2, 'pillar', (1.1, 0.0, 0.25), (0.3, 0.3, 0.5), 0.0,
                          (5e-5, -2e-6, 6e-5))]
    path = tmp_path / 'map.yaml'
    save_landmark_map(path, landmarks, offset_covariance=(4e-4, 0.0, 5e-4))
    loaded = read_landmark_map(path)
    assert loaded == LandmarkMapFile('map', landmarks, (4e-4, 0.0, 5e-4))
    assert load_landmark_map(path) == ('map', landmarks)


@pytest.mark.parametrize('text, message', [
    ('[1, 2]', 'mapping'),
    ('frame_id: map\nlandmarks: 3\n', 'must be a list'),
    ('landmarks: [{id: 1, class: box, position: [0, 0], size: [1, 1, 1]}]', 'position'),
    ('landmarks: [{id: 1, class: box, position: [0, 0, 0], size: [1, 0, 1]}]', 'positive'),
    ('landmarks: [{id: x, class: box, position: [0, 0, 0], size: [1, 1, 1]}]', 'integer'),
    ('landmarks: [{id: 1, position: [0, 0, 0], size: [1, 1, 1]}]', 'class'),
    ('landmarks: [{id: 1, class: a, position: [0, 0, 0], size: [1, 1, 1]},'
     ' {id: 1, class: b, position: [0, 0, 0], size: [1, 1, 1]}]', 'duplicate'),
    ('landmarks: [{id: 1, class: a, position: [0, 0, .nan], size: [1, 1, 1]}]', 'finite'),
    ('landmarks: [{', 'YAML'),
    ('landmarks: [{id: 1, class: a, position: [0, 0, 0], size: [1, 1, 1],'
     ' covariance: [1.0e-4, 0.0]}]', r'\[xx, xy, yy\]'),
    ('landmarks: [{id: 1, class: a, position: [0, 0, 0], size: [1, 1, 1],'
     ' covariance: [1.0e-4, 2.0e-4, 1.0e-4]}]', 'positive-definite'),
    ('offset_covariance: [-1.0e-4, 0.0, 1.0e-4]\nlandmarks: []', 'offset_covariance'),
])
def test_invalid_files_raise_input_error(tmp_path, text, message):
    path = tmp_path / 'bad.yaml'
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_landmark_map(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match='cannot read'):
        load_landmark_map(tmp_path / 'nope.yaml')


def _pillar(ident, x, y, class_name='pillar'):
    return Landmark(ident, class_name, (x, y, 0.25), (0.3, 0.3, 0.5), 0.0)


def test_merge_averages_the_offsets_of_independent_runs():
    truth = [(-1.1, 0.0), (0.0, 0.0), (1.1, 1.1)]
    # Two mapping runs, each offset as a whole by its own SLAM mean, listed in another order.
    run_a = [_pillar(i, x + 0.04, y - 0.02) for i, (x, y) in enumerate(truth, start=1)]
    run_b = [_pillar(i, x - 0.04, y + 0.02) for i, (x, y) in enumerate(reversed(truth), 1)]
    merged = merge_landmark_maps([run_a, run_b])
    assert len(merged) == 3
    assert [lm.id for lm in merged] == [1, 2, 3]
    for lm, (x, y) in zip(merged, truth):
        assert lm.position[:2] == pytest.approx((x, y), abs=1e-12)


def test_merge_keeps_classes_apart_and_respects_the_gate():
    run_a = [_pillar(1, 0.0, 0.0), _pillar(2, 2.0, 0.0, 'chair')]
    run_b = [_pillar(1, 0.05, 0.0, 'barrel'), _pillar(2, 2.5, 0.0, 'chair')]
    merged = merge_landmark_maps([run_a, run_b], gate_m=0.3)
    assert sorted((lm.class_name, lm.position[0]) for lm in merged) == [
        ('barrel', 0.05), ('chair', 2.0), ('chair', 2.5), ('pillar', 0.0)]
    wide = merge_landmark_maps([run_a, run_b], gate_m=0.6)
    assert sorted((lm.class_name, lm.position[0]) for lm in wide) == [
        ('barrel', 0.05), ('chair', 2.25), ('pillar', 0.0)]


def test_merge_joins_one_landmark_per_map_the_closest_first():
    run_a = [_pillar(1, 0.0, 0.0)]
    run_b = [_pillar(1, 0.2, 0.0), _pillar(2, 0.1, 0.0)]
    merged = merge_landmark_maps([run_a, run_b])
    assert sorted(lm.position[0] for lm in merged) == pytest.approx([0.05, 0.2])


def test_merge_min_maps_drops_what_one_run_alone_saw():
    run_a = [_pillar(1, 0.0, 0.0), _pillar(2, 3.0, 3.0, 'signpost')]
    run_b = [_pillar(1, 0.02, 0.0)]
    run_c = [_pillar(1, 0.04, 0.0), _pillar(2, -3.0, 1.0, 'ball')]
    merged = merge_landmark_maps([run_a, run_b, run_c], min_maps=2)
    assert [(lm.class_name, lm.position[0]) for lm in merged] == [
        ('pillar', pytest.approx(0.02))]
    assert len(merge_landmark_maps([run_a, run_b, run_c])) == 3


def test_merge_averages_yaw_on_the_circle():
    a = Landmark(1, 'box', (0.0, 0.0, 0.1), (0.3, 0.2, 0.2), math.pi - 0.1)
    b = Landmark(1, 'box', (0.0, 0.0, 0.1), (0.3, 0.2, 0.2), -math.pi + 0.1)
    (merged,) = merge_landmark_maps([[a], [b]])
    assert abs(math.remainder(merged.yaw - math.pi, 2 * math.pi)) < 1e-9


@pytest.mark.parametrize('maps, kwargs, message', [
    ([], {}, 'at least one'),
    ([[]], {'gate_m': 0.0}, 'positive'),
    ([[], []], {'min_maps': 3}, 'min_maps'),
    ([[]], {'min_maps': 0}, 'min_maps'),
])
def test_merge_rejects_bad_arguments(maps, kwargs, message):
    with pytest.raises(InputError, match=message):
        merge_landmark_maps(maps, **kwargs)


def test_merge_carries_the_uncertainty_of_independent_runs():
    offset, own = (4e-4, 0.0, 4e-4), (1e-5, 0.0, 1e-5)
    run_a = LandmarkMapFile('map', [Landmark(1, 'pillar', (0.03, 0.0, 0.25), (0.3,) * 3, 0.0,
                                             own),
                                    Landmark(2, 'pillar', (1.0, 0.0, 0.25), (0.3,) * 3, 0.0,
                                             own)], offset)
    run_b = LandmarkMapFile('map', [Landmark(5, 'pillar', (-0.01, 0.0, 0.25), (0.3,) * 3, 0.0,
                                             own)], offset)
    merged = merge_map_files([run_a, run_b])
    # Two runs: half the shared offset; the landmark both saw: half its own error.
    assert merged.offset_covariance == pytest.approx((2e-4, 0.0, 2e-4))
    both, one = merged.landmarks
    assert both.position[0] == pytest.approx(0.01)
    assert both.covariance == pytest.approx((5e-6, 0.0, 5e-6))
    # Seen by one run only: it keeps that run's offset, which the merged one halves.
    assert one.covariance == pytest.approx((1e-5 + 2e-4, 0.0, 1e-5 + 2e-4))
    # A map without uncertainty makes the merge carry none.
    plain = merge_map_files([run_a, LandmarkMapFile('map', run_b.landmarks)])
    assert plain.offset_covariance is None
    assert all(lm.covariance is None for lm in plain.landmarks)


def test_split_offset_covariance_recovers_a_shared_offset():
    shared = np.array([[4e-4, 5e-5], [5e-5, 3e-4]])
    rng = np.random.default_rng(1)
    own = [np.diag(rng.uniform(1e-5, 5e-5, 2)) for _ in range(5)]
    joint = np.kron(np.ones((5, 5)), shared)
    for i, block in enumerate(own):
        joint[2 * i:2 * i + 2, 2 * i:2 * i + 2] += block
    got_own, got_shared = split_offset_covariance(joint)
    assert np.allclose(got_shared, shared)
    assert all(np.allclose(a, b) for a, b in zip(got_own, own))
    # Pairs correlated beyond a landmark's own variance: the shared part is scaled down to fit
    # it, and every part stays a covariance.
    joint[0:2, 0:2] = np.eye(2) * 1e-4
    got_own, got_shared = split_offset_covariance(joint)
    assert np.all(np.linalg.eigvalsh(np.eye(2) * 1e-4 - got_shared) >= -1e-12)
    assert all(np.all(np.linalg.eigvalsh(c) > 0) for c in got_own)
    one_own, one_shared = split_offset_covariance(np.eye(2) * 1e-4)
    assert np.allclose(one_shared, 0.0) and np.allclose(one_own[0], np.eye(2) * 1e-4)


def test_merge_maps_cli(tmp_path, capsys):
    from ros2_infer.cli.main import main

    save_landmark_map(tmp_path / 'a.yaml', [_pillar(1, 0.04, 0.0), _pillar(2, 1.1, 0.0)])
    save_landmark_map(tmp_path / 'b.yaml', [_pillar(7, -0.04, 0.0)])
    out = tmp_path / 'merged.yaml'
    assert main(['merge-maps', str(tmp_path / 'a.yaml'), str(tmp_path / 'b.yaml'),
                 '--out', str(out)]) == 0
    assert 'merged 2 maps (2, 1 landmarks) into 2 landmarks' in capsys.readouterr().out
    frame, merged = load_landmark_map(out)
    assert frame == 'map'
    assert [lm.position[0] for lm in merged] == pytest.approx([0.0, 1.1])
    save_landmark_map(tmp_path / 'odom.yaml', [_pillar(1, 0.0, 0.0)], frame_id='odom')
    assert read_landmark_map(out).offset_covariance is None
    with_cov = [Landmark(1, 'pillar', (0.0, 0.0, 0.25), (0.3,) * 3, 0.0, (1e-5, 0.0, 1e-5))]
    save_landmark_map(tmp_path / 'c.yaml', with_cov, offset_covariance=(4e-4, 0.0, 4e-4))
    save_landmark_map(tmp_path / 'd.yaml', with_cov, offset_covariance=(2e-4, 0.0, 2e-4))
    assert main(['merge-maps', str(tmp_path / 'c.yaml'), str(tmp_path / 'd.yaml'),
                 '--out', str(out)]) == 0
    assert read_landmark_map(out).offset_covariance == pytest.approx((1.5e-4, 0.0, 1.5e-4))
    assert cov2_matrix(read_landmark_map(out).landmarks[0].covariance)[0, 0] == \
        pytest.approx(5e-6)
    assert main(['merge-maps', str(tmp_path / 'a.yaml'), str(tmp_path / 'odom.yaml'),
                 '--out', str(tmp_path / 'x.yaml')]) == 1
    assert 'different frames' in capsys.readouterr().err
    assert not (tmp_path / 'x.yaml').exists()


def test_a_map_with_uncorrelated_landmarks_saves_and_loads_again(tmp_path):
    from ros2_infer.core.pipeline import FusionPipeline

    # Three known landmarks that nothing has tied together: their joint covariance has no
    # shared part, and the exported offset is still a covariance a map file can hold.
    known = [_pillar(i, float(i), 0.0) for i in (1, 2, 3)]
    pipeline = FusionPipeline(known_map=known, known_map_sigma=0.01)
    loc = pipeline.localizer
    loc.initialize(0, np.zeros(3), np.zeros(3), np.diag([0.05 ** 2, 0.05 ** 2, 0.02 ** 2]))
    for lm in known:
        loc.add_landmark(lm.id, np.array(lm.position[:2]), np.eye(2) * 0.01 ** 2)
    loc.update([1, 2, 3])
    landmarks, offset = pipeline.export_map()
    assert offset is not None and 0.0 < offset[0] < 1e-6
    assert all(lm.covariance[0] == pytest.approx(1e-4, rel=1e-3) for lm in landmarks)
    save_landmark_map(tmp_path / 'm.yaml', landmarks, offset_covariance=offset)
    assert read_landmark_map(tmp_path / 'm.yaml').offset_covariance == pytest.approx(offset)
