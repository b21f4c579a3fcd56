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
