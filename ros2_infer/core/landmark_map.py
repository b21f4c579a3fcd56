"""
Landmark map: known objects (class, centre, size, yaw) in a fixed frame, stored as YAML.

File format::

    frame_id: map
    offset_covariance: [4.0e-4, 0.0, 4.0e-4]        # optional
    landmarks:
      - {id: 1, class: pillar, position: [-1.1, -1.1, 0.25], size: [0.3, 0.3, 0.5], yaw: 0.0,
         covariance: [4.0e-5, 0.0, 4.0e-5]}        # optional

``position`` is the centre of the object's bounding box in ``frame_id`` (metres), ``size`` its
full extent along the object's own x, y, z axes (metres) and ``yaw`` its rotation about z
(radians).

A map saved after a mapping run also says how uncertain it is, in two parts (m², as
``[xx, xy, yy]`` of the planar covariance). Every landmark of one run is shifted by the same
error, that run's mean SLAM error: ``offset_covariance`` is the covariance of that shared
shift. Each landmark's ``covariance`` is the rest, its error relative to the others (a few
millimetres when the run saw it often). Keeping the two apart matters: a localisation run can
learn the shared shift from its own SLAM stream, which treating the landmarks as independent
would forbid. Maps written by hand, or from a survey, carry neither key and get one σ for all.
"""

from collections.abc import Sequence
from dataclasses import dataclass
import math
from pathlib import Path
from typing import Any

import numpy as np
from ros2_infer.core.errors import InputError
import yaml

Vec3 = tuple[float, float, float]
Cov2 = tuple[float, float, float]    # (xx, xy, yy) of a symmetric 2x2 covariance, m²


@dataclass(frozen=True)
class Landmark:
    """One known object: integer id, class name, centre position, size and yaw."""

    id: int  # noqa: A003 - the YAML key and the vision_msgs term
    class_name: str
    position: Vec3
    size: Vec3
    yaw: float = 0.0
    covariance: Cov2 | None = None      # planar, without the map's shared offset

    def to_dict(self) -> dict:
        """Return the YAML representation (``class`` key, lists of floats)."""
        out = {'id': int(self.id), 'class': self.class_name,
               'position': [float(v) for v in self.position],
               'size': [float(v) for v in self.size], 'yaw': float(self.yaw)}
        if self.covariance is not None:
            out['covariance'] = [float(v) for v in self.covariance]
        return out


@dataclass(frozen=True)
class LandmarkMapFile:
    """A landmark-map file: its frame, landmarks and the covariance of their shared offset."""

    frame_id: str
    landmarks: list[Landmark]
    offset_covariance: Cov2 | None = None


def cov2_matrix(cov: Cov2) -> np.ndarray:
    """Return ``(xx, xy, yy)`` as a 2x2 matrix."""
    return np.array([[cov[0], cov[1]], [cov[1], cov[2]]], float)


def cov2_tuple(matrix: np.ndarray) -> Cov2:
    """Return a 2x2 covariance as ``(xx, xy, yy)`` (symmetrised)."""
    m = np.asarray(matrix, float)
    return (float(m[0, 0]), float(0.5 * (m[0, 1] + m[1, 0])), float(m[1, 1]))


def _cov2(value: Any, what: str) -> Cov2:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise InputError(f'{what} must be [xx, xy, yy] (m²), got {value!r}')
    try:
        xx, xy, yy = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f'{what} must be [xx, xy, yy] (m²), got {value!r}') from None
    if not all(math.isfinite(v) for v in (xx, xy, yy)) or xx <= 0.0 or yy <= 0.0 \
            or xx * yy - xy * xy <= 0.0:
        raise InputError(f'{what} must be a positive-definite [xx, xy, yy], got {value!r}')
    return (xx, xy, yy)


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
    cov = entry.get('covariance')
    return Landmark(ident, class_name, _vec3(entry['position'], f'{where}: position'), size, yaw,
                    None if cov is None else _cov2(cov, f'{where}: covariance'))


def load_landmark_map(path: str | Path) -> tuple[str, list[Landmark]]:
    """
    Load a landmark-map YAML file.

    :param path: file to read.
    :return: ``(frame_id, landmarks)`` (:func:`read_landmark_map` has the offset too).
    :raises InputError: the file is missing or malformed, or two landmarks share an id.
    """
    data = read_landmark_map(path)
    return data.frame_id, data.landmarks


def read_landmark_map(path: str | Path) -> LandmarkMapFile:
    """
    Read a landmark-map YAML file with its uncertainty, when it has one.

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
    offset = data.get('offset_covariance')
    if offset is not None:
        offset = _cov2(offset, f'landmark map {path}: offset_covariance')
    return LandmarkMapFile(frame_id, landmarks, offset)


def save_landmark_map(path: str | Path, landmarks: Sequence[Landmark],
                      frame_id: str = 'map', offset_covariance: Cov2 | None = None) -> None:
    """Write ``landmarks`` to ``path`` as landmark-map YAML (parent directories are created)."""
    _check_unique(landmarks, str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict = {'frame_id': frame_id}
    if offset_covariance is not None:
        data['offset_covariance'] = [float(v) for v in offset_covariance]
    data['landmarks'] = [lm.to_dict() for lm in landmarks]
    path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None),
                    encoding='utf-8')


def _check_unique(landmarks: Sequence[Landmark], where: str) -> None:
    seen = set()
    for lm in landmarks:
        if lm.id in seen:
            raise InputError(f'landmark map {where}: duplicate landmark id {lm.id}')
        seen.add(lm.id)


def merge_landmark_maps(maps: Sequence[Sequence[Landmark]], gate_m: float = 0.3,
                        min_maps: int = 1,
                        offset_covariances: Sequence[Cov2 | None] | None = None
                        ) -> list[Landmark]:
    """
    Merge landmark maps of the same place, saved by separate mapping runs, into one.

    A map built online is offset as a whole by its run's mean SLAM error, and separate runs
    draw independent means: averaging K runs divides that offset's spread by sqrt(K). So the
    maps are *not* aligned to each other first, which would carry the first map's offset into
    every other one. One landmark of each map joins a group when it has the group's class and
    lies within ``gate_m`` of the group's mean; the closest pairs are joined first. A merged
    landmark is the plain mean of its group: every run's error has about the same size.

    With every map's ``offset_covariances`` and every landmark's covariance, the merged ones
    carry covariances too (see :func:`merge_map_files`); otherwise none.

    :param maps: the maps, each a sequence of landmarks in the same frame.
    :param gate_m: largest distance (m, in the plane) between one run's landmark and a group.
    :param min_maps: keep only landmarks found in at least this many maps (a false detection
        mapped by one run rarely recurs in another).
    :param offset_covariances: each map's shared-offset covariance (None: unknown).
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
    offset = _mean_offset(offset_covariances, len(maps))
    return [_mean_landmark(ident, group, offset, len(maps))
            for ident, group in enumerate(kept, start=1)]


def merge_map_files(files: Sequence[LandmarkMapFile], gate_m: float = 0.3,
                    min_maps: int = 1) -> LandmarkMapFile:
    """
    Merge whole map files (see :func:`merge_landmark_maps`), uncertainty included.

    The runs' offsets are independent: the merged map's shared offset is the mean of theirs
    over K, the number of maps. A landmark that g of the K maps saw keeps the mean offset of
    those g, which differs from the merged one by ``C (1/g - 1/K)``; its own error is the mean
    of g independent ones.

    :raises InputError: the maps are in different frames, or as for
        :func:`merge_landmark_maps`.
    """
    frames = sorted({f.frame_id for f in files})
    if len(frames) > 1:
        raise InputError(f'the maps are in different frames ({", ".join(frames)}): '
                         'merge maps of one frame only')
    offsets = [f.offset_covariance for f in files]
    merged = merge_landmark_maps([f.landmarks for f in files], gate_m, min_maps, offsets)
    mean = _mean_offset(offsets, len(files))
    return LandmarkMapFile(frames[0] if frames else 'map', merged,
                           None if mean is None else cov2_tuple(mean / len(files)))


def _mean_offset(offsets: Sequence[Cov2 | None] | None, n_maps: int) -> np.ndarray | None:
    if not offsets or len(offsets) != n_maps or any(c is None for c in offsets):
        return None
    return np.mean([cov2_matrix(c) for c in offsets], axis=0)


def _mean_xy(group: Sequence[Landmark]) -> tuple[float, float]:
    return (sum(lm.position[0] for lm in group) / len(group),
            sum(lm.position[1] for lm in group) / len(group))


def _mean_landmark(ident: int, group: Sequence[Landmark], offset: np.ndarray | None,
                   n_maps: int) -> Landmark:
    n = len(group)
    position = tuple(sum(lm.position[k] for lm in group) / n for k in range(3))
    size = tuple(sum(lm.size[k] for lm in group) / n for k in range(3))
    # Yaw is an angle: average it on the circle, not as a number.
    yaw = math.atan2(sum(math.sin(lm.yaw) for lm in group), sum(math.cos(lm.yaw) for lm in group))
    cov = None
    if offset is not None and all(lm.covariance is not None for lm in group):
        own = np.mean([cov2_matrix(lm.covariance) for lm in group], axis=0) / n
        cov = cov2_tuple(own + offset * (1.0 / n - 1.0 / n_maps))
    return Landmark(ident, group[0].class_name, position, size, yaw,  # type: ignore[arg-type]
                    cov)


def split_offset_covariance(joint: np.ndarray, floor: float = 1e-6
                            ) -> tuple[list[np.ndarray], np.ndarray]:
    """
    Split the joint covariance of N landmarks (2N x 2N) into a shared offset and own parts.

    The shared offset is what every pair of landmarks has in common: the mean of the
    off-diagonal 2x2 blocks, made positive semi-definite and scaled down where it would exceed
    a landmark's own marginal. Each landmark keeps its marginal minus that, with eigenvalues
    of at least ``floor`` (m²).

    :return: ``(own, shared)``: N 2x2 matrices and one 2x2 matrix.
    """
    joint = np.asarray(joint, float)
    n = joint.shape[0] // 2
    blocks = joint.reshape(n, 2, n, 2).transpose(0, 2, 1, 3)
    marginals = [0.5 * (blocks[i, i] + blocks[i, i].T) for i in range(n)]
    shared = np.zeros((2, 2))
    if n >= 2:
        off = (blocks.sum(axis=(0, 1)) - sum(blocks[i, i] for i in range(n))) / (n * (n - 1))
        shared = clip_eigenvalues(0.5 * (off + off.T), 0.0)
        scale = 1.0
        for m in marginals:
            ratio = float(np.max(np.real(np.linalg.eigvals(np.linalg.solve(m, shared)))))
            if ratio > 0.0:
                scale = min(scale, 1.0 / ratio)
        shared = shared * scale
    return [clip_eigenvalues(m - shared, floor) for m in marginals], shared


def clip_eigenvalues(matrix: np.ndarray, floor: float) -> np.ndarray:
    """Return the symmetric ``matrix`` with every eigenvalue raised to at least ``floor``."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.maximum(values, floor)) @ vectors.T
