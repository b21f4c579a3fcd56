"""
Landmark map: known objects (class, centre, size, yaw) in a fixed frame, stored as YAML.

File format::

    frame_id: map
    landmarks:
      - {id: 1, class: pillar, position: [-1.1, -1.1, 0.25], size: [0.3, 0.3, 0.5], yaw: 0.0}

``position`` is the centre of the object's bounding box in ``frame_id`` (metres), ``size`` its
full extent along the object's own x, y, z axes (metres) and ``yaw`` its rotation about z
(radians).
"""

from collections.abc import Sequence
from dataclasses import dataclass
import math
from pathlib import Path
from typing import Any

from ros2_infer.core.errors import InputError
import yaml

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Landmark:
    """One known object: integer id, class name, centre position, size and yaw."""

    id: int  # noqa: A003 - the YAML key and the vision_msgs term
    class_name: str
    position: Vec3
    size: Vec3
    yaw: float = 0.0

    def to_dict(self) -> dict:
        """Return the YAML representation (``class`` key, lists of floats)."""
        return {'id': int(self.id), 'class': self.class_name,
                'position': [float(v) for v in self.position],
                'size': [float(v) for v in self.size], 'yaw': float(self.yaw)}


def _vec3(value: Any, what: str) -> Vec3:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise InputError(f'{what} must be a list of 3 numbers, got {value!r}')
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f'{what} must be a list of 3 numbers, got {value!r}') from None
    if not all(math.isfinite(v) for v in out):
        raise InputError(f'{what} must be finite, got {value!r}')
    return out  # type: ignore[return-value]


def landmark_from_dict(entry: Any, where: str = 'landmark') -> Landmark:
    """Validate one YAML entry and return it as a :class:`Landmark`."""
    if not isinstance(entry, dict):
        raise InputError(f'{where} must be a mapping, got {entry!r}')
    missing = [key for key in ('id', 'class', 'position', 'size') if key not in entry]
    if missing:
        raise InputError(f'{where} lacks key(s) {", ".join(missing)}')
    ident = entry['id']
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise InputError(f'{where}: id must be an integer, got {ident!r}')
    class_name = entry['class']
    if not isinstance(class_name, str) or not class_name.strip():
        raise InputError(f'{where}: class must be a non-empty string, got {class_name!r}')
    size = _vec3(entry['size'], f'{where}: size')
    if min(size) <= 0.0:
        raise InputError(f'{where}: size must be positive, got {list(size)}')
    try:
        yaw = float(entry.get('yaw', 0.0))
    except (TypeError, ValueError):
        raise InputError(f'{where}: yaw must be a number, got {entry.get("yaw")!r}') from None
    if not math.isfinite(yaw):
        raise InputError(f'{where}: yaw must be finite')
    return Landmark(ident, class_name, _vec3(entry['position'], f'{where}: position'), size, yaw)


def load_landmark_map(path: str | Path) -> tuple[str, list[Landmark]]:
    """
    Load a landmark-map YAML file.

    :param path: file to read.
    :return: ``(frame_id, landmarks)``.
    :raises InputError: the file is missing or malformed, or two landmarks share an id.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding='utf-8'))
    except OSError as error:
        raise InputError(f'cannot read landmark map {path}: {error.strerror}') from None
    except yaml.YAMLError as error:
        raise InputError(f'landmark map {path} is not valid YAML: {error}') from None
    if not isinstance(data, dict):
        raise InputError(f'landmark map {path} must be a mapping with frame_id and landmarks')
    frame_id = data.get('frame_id', 'map')
    if not isinstance(frame_id, str) or not frame_id:
        raise InputError(f'landmark map {path}: frame_id must be a non-empty string')
    entries = data.get('landmarks')
    if not isinstance(entries, list):
        raise InputError(f'landmark map {path}: landmarks must be a list')
    landmarks = [landmark_from_dict(e, f'landmark map {path}: landmark #{i}')
                 for i, e in enumerate(entries)]
    _check_unique(landmarks, str(path))
    return frame_id, landmarks


def save_landmark_map(path: str | Path, landmarks: Sequence[Landmark],
                      frame_id: str = 'map') -> None:
    """Write ``landmarks`` to ``path`` as landmark-map YAML (parent directories are created)."""
    _check_unique(landmarks, str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {'frame_id': frame_id, 'landmarks': [lm.to_dict() for lm in landmarks]}
    path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None),
                    encoding='utf-8')


def _check_unique(landmarks: Sequence[Landmark], where: str) -> None:
    seen = set()
    for lm in landmarks:
        if lm.id in seen:
            raise InputError(f'landmark map {where}: duplicate landmark id {lm.id}')
        seen.add(lm.id)


def merge_landmark_maps(maps: Sequence[Sequence[Landmark]], gate_m: float = 0.3,
                        min_maps: int = 1) -> list[Landmark]:
    """
    Merge landmark maps of the same place, saved by separate mapping runs, into one.

    A map built online is offset as a whole by its run's mean SLAM error, and separate runs
    draw independent means: averaging K runs divides that offset's spread by sqrt(K). So the
    maps are *not* aligned to each other first, which would carry the first map's offset into
    every other one. One landmark of each map joins a group when it has the group's class and
    lies within ``gate_m`` of the group's mean; the closest pairs are joined first. A merged
    landmark is the plain mean of its group: every run's error has about the same size.

    :param maps: the maps, each a sequence of landmarks in the same frame.
    :param gate_m: largest distance (m, in the plane) between one run's landmark and a group.
    :param min_maps: keep only landmarks found in at least this many maps (a false detection
        mapped by one run rarely recurs in another).
    :return: the merged landmarks, ids renumbered from 1 in the order of the input.
    :raises InputError: no map, a gate that is not positive, or ``min_maps`` out of range.
    """
    if not maps:
        raise InputError('merge needs at least one landmark map')
    if not gate_m > 0.0:
        raise InputError(f'merge gate must be positive, got {gate_m}')
    if not 1 <= min_maps <= len(maps):
        raise InputError(f'min_maps must be between 1 and the number of maps ({len(maps)}), '
                         f'got {min_maps}')
    groups: list[list[Landmark]] = []
    for landmarks in maps:
        centres = [_mean_xy(group) for group in groups]
        pairs = sorted(
            (distance, i, g)
            for i, lm in enumerate(landmarks) for g, centre in enumerate(centres)
            if groups[g][0].class_name == lm.class_name
            for distance in (math.dist(lm.position[:2], centre),) if distance <= gate_m)
        joined_landmarks, joined_groups = set(), set()
        for _, i, g in pairs:
            if i in joined_landmarks or g in joined_groups:
                continue
            groups[g].append(landmarks[i])
            joined_landmarks.add(i)
            joined_groups.add(g)
        groups.extend([lm] for i, lm in enumerate(landmarks) if i not in joined_landmarks)
    kept = [group for group in groups if len(group) >= min_maps]
    return [_mean_landmark(ident, group) for ident, group in enumerate(kept, start=1)]


def _mean_xy(group: Sequence[Landmark]) -> tuple[float, float]:
    return (sum(lm.position[0] for lm in group) / len(group),
            sum(lm.position[1] for lm in group) / len(group))


def _mean_landmark(ident: int, group: Sequence[Landmark]) -> Landmark:
    n = len(group)
    position = tuple(sum(lm.position[k] for lm in group) / n for k in range(3))
    size = tuple(sum(lm.size[k] for lm in group) / n for k in range(3))
    # Yaw is an angle: average it on the circle, not as a number.
    yaw = math.atan2(sum(math.sin(lm.yaw) for lm in group), sum(math.cos(lm.yaw) for lm in group))
    return Landmark(ident, group[0].class_name, position, size, yaw)  # type: ignore[arg-type]
