"""Tests of the landmark-map YAML (ros2_infer.core.landmark_map)."""

import math

import pytest

from ros2_infer.core.errors import InputError
from ros2_infer.core.landmark_map import (Landmark, load_landmark_map, merge_landmark_maps,
                                          save_landmark_map)


def test_roundtrip(tmp_path):
    landmarks = [Landmark(1, 'pillar', (-1.1, 0.0, 0.25), (0.3, 0.3, 0.5), 0.0),
                 Landmark(12, 'traffic_cone', (0.5, -1.5, 0.16), (0.28, 0.28, 0.32), 1.2)]
    path = tmp_path / 'sub' / 'map.yaml'
    save_landmark_map(path, landmarks, frame_id='map')
    frame, loaded = load_landmark_map(path)
    assert frame == 'map'
    assert loaded == landmarks
    assert 'class: traffic_cone' in path.read_text()


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
    assert main(['merge-maps', str(tmp_path / 'a.yaml'), str(tmp_path / 'odom.yaml'),
                 '--out', str(tmp_path / 'x.yaml')]) == 1
    assert 'different frames' in capsys.readouterr().err
    assert not (tmp_path / 'x.yaml').exists()
