"""
turtlebot3_world geometry, detectable object classes and seeded object layouts.

Everything here is plain numpy (no MuJoCo): 2D clearance queries used by the layout generator,
the scripted driver and the tests, and primitive-based descriptions of the object classes that
:mod:`ros2_infer.sim.mjcf` turns into MuJoCo geoms.
"""

from collections.abc import Sequence
from dataclasses import dataclass
import math

import numpy as np

from ros2_infer.core.errors import InputError
from ros2_infer.core.landmark_map import Landmark

WORLDS = ('turtlebot3_world',)

# Outer hexagonal wall: inner apothem, thickness, z range (TURTLEBOT3.md).
WALL_APOTHEM = 2.540
WALL_THICKNESS = 0.318
WALL_Z = (-0.30, 0.97)
# Outward normals of the six wall sides (vertices along +-x, flat sides at y = +-apothem).
HEX_NORMAL_ANGLES = np.deg2rad([30.0, 90.0, 150.0, 210.0, 270.0, 330.0])
HEX_NORMALS = np.stack([np.cos(HEX_NORMAL_ANGLES), np.sin(HEX_NORMAL_ANGLES)], axis=1)

PILLAR_RADIUS = 0.15
PILLAR_HEIGHT = 0.5
PILLAR_XY = [(x, y) for x in (-1.1, 0.0, 1.1) for y in (-1.1, 0.0, 1.1)]

PRISM_HEIGHT = 1.397


@dataclass(frozen=True)
class Prism:
    """A hexagonal prism with vertices along +-x: centre, circumradius and apothem."""

    x: float
    y: float
    circumradius: float
    apothem: float


PRISMS = [Prism(3.5, 0.0, 1.173, 1.016)] + [
    Prism(sx * 1.8, sy * 2.7, 0.807, 0.699) for sx in (-1, 1) for sy in (-1, 1)]

SPAWN = (-2.0, -0.5, 0.0)

# The scripted driver's closed loop (map frame, metres): the lane y=-0.55 through the pillar grid
# and the upper half of the ring between pillars and walls. The narrowest passage (between the
# pillar at (1.1, 1.1) and the prism at (1.8, 2.7)) leaves 0.33 m to the route, more than the
# Waffle Pi's half width (0.153 m with wheels). Objects are never placed near the route.
ROUTE = [
    (-1.8, -0.55), (1.8, -0.55), (1.85, 0.6), (1.65, 1.45), (1.0, 1.62), (0.55, 1.68),
    (-0.55, 1.68), (-1.0, 1.62), (-1.65, 1.45), (-1.85, 0.6),
]


def static_clearance(points: np.ndarray) -> np.ndarray:
    """
    Return the free distance (m) from each 2D point to the wall, the prisms and the pillars.

    Polygon distances use the largest half-plane distance, a lower bound of the true distance
    near vertices, so the result is conservative. Points outside the arena get negative values.

    :param points: array of shape (N, 2) in the map frame.
    """
    p = np.atleast_2d(np.asarray(points, dtype=float))
    wall = WALL_APOTHEM - (p @ HEX_NORMALS.T).max(axis=1)
    out = wall
    for prism in PRISMS:
        rel = p - np.array([prism.x, prism.y])
        out = np.minimum(out, (rel @ HEX_NORMALS.T).max(axis=1) - prism.apothem)
    pillars = np.array(PILLAR_XY)
    dist = np.linalg.norm(p[:, None, :] - pillars[None, :, :], axis=2).min(axis=1)
    return np.minimum(out, dist - PILLAR_RADIUS)


def polyline_distance(points: np.ndarray, vertices: Sequence[tuple[float, float]],
                      closed: bool = True) -> np.ndarray:
    """Return the distance from each point (N, 2) to a polyline given by its vertices."""
    p = np.atleast_2d(np.asarray(points, dtype=float))
    v = np.asarray(vertices, dtype=float)
    a = v if closed else v[:-1]
    b = np.roll(v, -1, axis=0) if closed else v[1:]
    ab = b - a
    t = ((p[:, None, :] - a[None]) * ab[None]).sum(axis=2) / np.maximum(
        (ab * ab).sum(axis=1), 1e-12)[None]
    t = np.clip(t, 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    return np.linalg.norm(p[:, None, :] - closest, axis=2).min(axis=1)


# ---------------------------------------------------------------------------------------------
# Object classes. Each part is (geom type, MuJoCo size, position in the object frame, role);
# z = 0 is the floor. 'role' names the colour slot the appearance model fills.
Part = tuple[str, tuple[float, ...], tuple[float, float, float], str]


@dataclass(frozen=True)
class ObjectClass:
    """A detectable object class built from primitives."""

    name: str
    parts: tuple[Part, ...]
    size: tuple[float, float, float]  # bounding box extent (x, y, z), metres
    radius: float  # footprint radius used for placement


def _cone_parts() -> tuple[Part, ...]:
    return (('box', (0.14, 0.14, 0.01), (0.0, 0.0, 0.01), 'secondary'),
            ('cone', (0.11, 0.30), (0.0, 0.0, 0.02), 'primary'),
            ('cylinder', (0.07, 0.02), (0.0, 0.0, 0.17), 'secondary'))


OBJECT_CLASSES: dict[str, ObjectClass] = {c.name: c for c in [
    # Taller than the lidar plane (0.132 m on the Waffle Pi, 0.182 m on the Burger).
    ObjectClass('traffic_cone', _cone_parts(), (0.28, 0.28, 0.32), 0.20),
    ObjectClass('barrel', (
        ('cylinder', (0.17, 0.25), (0.0, 0.0, 0.25), 'primary'),
        ('cylinder', (0.175, 0.015), (0.0, 0.0, 0.15), 'secondary'),
        ('cylinder', (0.175, 0.015), (0.0, 0.0, 0.35), 'secondary')), (0.35, 0.35, 0.50), 0.18),
    ObjectClass('chair', (
        ('box', (0.20, 0.20, 0.02), (0.0, 0.0, 0.43), 'primary'),
        ('box', (0.015, 0.015, 0.21), (0.17, 0.17, 0.21), 'secondary'),
        ('box', (0.015, 0.015, 0.21), (0.17, -0.17, 0.21), 'secondary'),
        ('box', (0.015, 0.015, 0.21), (-0.17, 0.17, 0.21), 'secondary'),
        ('box', (0.015, 0.015, 0.21), (-0.17, -0.17, 0.21), 'secondary'),
        ('box', (0.02, 0.20, 0.20), (-0.18, 0.0, 0.65), 'primary')), (0.40, 0.40, 0.85), 0.29),
    ObjectClass('signpost', (
        ('cylinder', (0.15, 0.015), (0.0, 0.0, 0.015), 'secondary'),
        ('cylinder', (0.025, 0.50), (0.0, 0.0, 0.50), 'secondary'),
        ('box', (0.01, 0.20, 0.15), (0.035, 0.0, 0.82), 'primary')), (0.30, 0.40, 0.97), 0.21),
    # Shorter than the lidar plane: invisible to /scan, visible to the camera.
    ObjectClass('box', (
        ('box', (0.18, 0.14, 0.05), (0.0, 0.0, 0.05), 'primary'),), (0.36, 0.28, 0.10), 0.23),
    ObjectClass('ball', (
        ('sphere', (0.0625,), (0.0, 0.0, 0.0625), 'primary'),), (0.125, 0.125, 0.125), 0.07),
]}
PILLAR_CLASS = 'pillar'
CLASS_NAMES = (PILLAR_CLASS,) + tuple(OBJECT_CLASSES)

# Clearances used by the layout generator (metres).
ROUTE_MARGIN = 0.42  # robot footprint radius 0.24 + pure-pursuit corner cutting + margin
STATIC_MARGIN = 0.08
OBJECT_GAP = 0.25
SPAWN_MARGIN = 0.6


def pillar_landmarks() -> list[Landmark]:
    """Return the nine pillars as landmarks with ids 1..9."""
    return [Landmark(i + 1, PILLAR_CLASS, (x, y, PILLAR_HEIGHT / 2),
                     (2 * PILLAR_RADIUS, 2 * PILLAR_RADIUS, PILLAR_HEIGHT), 0.0)
            for i, (x, y) in enumerate(PILLAR_XY)]


RESTARTS = 20  # fresh placements tried before a layout is declared impossible


def generate_layout(rng: np.random.Generator, num_objects: int = 8) -> list[Landmark]:
    """
    Place ``num_objects`` detectable objects (ids from 10) in free space.

    Classes cycle through a shuffled list of every object class first, so any layout with at
    least six objects contains every class. Objects keep clear of walls, prisms, pillars, each
    other, the spawn pose and the driver's route.

    :raises InputError: the objects do not fit.
    """
    if num_objects < 0:
        raise InputError(f'num_objects must be >= 0, got {num_objects}')
    names = list(OBJECT_CLASSES)
    order = [names[i] for i in rng.permutation(len(names))]
    classes = [order[i] if i < len(order) else names[int(rng.integers(len(names)))]
               for i in range(num_objects)]
    most = 0
    # Greedy placement can paint itself into a corner (early objects blocking the free space
    # a later one needs); start over with fresh positions before giving up. A layout that fits
    # on the first try draws exactly what it drew before restarts existed.
    for _ in range(RESTARTS):
        placed = _place(rng, classes)
        if len(placed) == num_objects:
            return placed
        most = max(most, len(placed))
    raise InputError(f'cannot place {num_objects} objects in turtlebot3_world; '
                     f'placed {most}: use fewer objects')


def _place(rng: np.random.Generator, classes: list[str]) -> list[Landmark]:
    """Place objects of ``classes`` one after another; stops at the first that finds no spot."""
    placed: list[Landmark] = []
    placed_r: list[float] = []
    for index, name in enumerate(classes):
        cls = OBJECT_CLASSES[name]
        for _ in range(4000):
            xy = rng.uniform(-2.6, 2.6, size=2)
            if static_clearance(xy[None])[0] < cls.radius + STATIC_MARGIN:
                continue
            if polyline_distance(xy[None], ROUTE)[0] < cls.radius + ROUTE_MARGIN:
                continue
            if math.hypot(xy[0] - SPAWN[0], xy[1] - SPAWN[1]) < cls.radius + SPAWN_MARGIN:
                continue
            if any(math.hypot(xy[0] - o.position[0], xy[1] - o.position[1]) < cls.radius + r
                   + OBJECT_GAP for o, r in zip(placed, placed_r)):
                continue
            yaw = float(rng.uniform(-math.pi, math.pi))
            placed.append(Landmark(10 + index, name, (float(xy[0]), float(xy[1]),
                                                      cls.size[2] / 2), cls.size, yaw))
            placed_r.append(cls.radius)
            break
        else:
            return placed
    return placed


def world_landmarks(rng: np.random.Generator, num_objects: int = 8) -> list[Landmark]:
    """Return the pillars (ids 1..9) followed by a seeded object layout (ids 10..)."""
    return pillar_landmarks() + generate_layout(rng, num_objects)
