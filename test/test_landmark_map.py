"""Tests of the landmark-map YAML (ros2_infer.core.landmark_map)."""

import pytest

from ros2_infer.core.errors import InputError
from ros2_infer.core.landmark_map import Landmark, load_landmark_map, save_landmark_map


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
