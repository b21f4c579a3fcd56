"""
Seeded appearance: colours, textures, lighting and camera noise, from disjoint sets.

Without randomisation the world looks like turtlebot3_gazebo (white pillars, green prisms,
dark walls, grey floor) and each class has a canonical colour. With randomisation every
appearance parameter is drawn from the chosen set: ``train`` and ``heldout`` use disjoint hue
bins, disjoint texture kinds, disjoint floor palettes and disjoint light intensity ranges, so a
model trained on ``train`` can be evaluated on unseen appearance.
"""

import colorsys
from dataclasses import dataclass, field

import numpy as np

from ros2_infer.core.errors import InputError

Rgba = tuple[float, float, float, float]
APPEARANCE_SETS = ('train', 'heldout')
CAMERA_NOISE_SIGMA = 0.007  # Gazebo's pixel noise (fraction of full scale)

CANONICAL: dict[str, tuple[Rgba, Rgba]] = {  # class -> (primary, secondary)
    'pillar': ((0.9, 0.9, 0.9, 1.0), (0.9, 0.9, 0.9, 1.0)),
    'traffic_cone': ((1.0, 0.4, 0.05, 1.0), (0.95, 0.95, 0.95, 1.0)),
    'barrel': ((0.1, 0.3, 0.75, 1.0), (0.75, 0.75, 0.8, 1.0)),
    'chair': ((0.45, 0.25, 0.1, 1.0), (0.2, 0.2, 0.2, 1.0)),
    'signpost': ((0.95, 0.85, 0.1, 1.0), (0.5, 0.5, 0.5, 1.0)),
    'box': ((0.7, 0.5, 0.3, 1.0), (0.7, 0.5, 0.3, 1.0)),
    'ball': ((0.85, 0.1, 0.1, 1.0), (0.85, 0.1, 0.1, 1.0)),
}

# Disjoint sets. Hue bins are twelfths of the colour wheel; each set takes alternate bins.
_SETS = {
    'train': {
        'hue_bins': (0, 2, 4, 6, 8, 10),
        'textures': ('flat', 'checker'),
        'floors': ((0.55, 0.55, 0.55), (0.6, 0.5, 0.4), (0.45, 0.45, 0.5)),
        'light': (0.55, 0.8),
    },
    'heldout': {
        'hue_bins': (1, 3, 5, 7, 9, 11),
        'textures': ('gradient', 'dots'),
        'floors': ((0.35, 0.45, 0.35), (0.7, 0.7, 0.65), (0.3, 0.35, 0.45)),
        'light': (0.35, 0.5),
    },
}


@dataclass
class Material:
    """Colour and texture of one colour slot."""

    rgba: Rgba
    texture: str = 'flat'  # flat | checker | gradient | dots
    rgb2: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass
class Appearance:
    """All appearance parameters of one run."""

    materials: dict[str, Material] = field(default_factory=dict)  # key '<object id>/<role>'
    floor_rgb: tuple[float, float, float] = (0.5, 0.5, 0.5)
    floor_texture: str = 'checker'
    light_diffuse: float = 0.7
    light_dir: tuple[float, float, float] = (0.3, 0.2, -1.0)
    camera_noise: float = CAMERA_NOISE_SIGMA

    def material(self, key: str, class_name: str, role: str) -> Material:
        """Return the material of a slot, falling back to the class's canonical colour."""
        if key in self.materials:
            return self.materials[key]
        primary, secondary = CANONICAL.get(class_name, ((0.5, 0.5, 0.5, 1.0),) * 2)
        return Material(primary if role == 'primary' else secondary)


def _rgb_from_bin(rng: np.random.Generator, bins: tuple[int, ...]) -> tuple[float, ...]:
    hue = (int(rng.choice(bins)) + rng.uniform(0.1, 0.9)) / 12.0
    sat = rng.uniform(0.45, 1.0)
    val = rng.uniform(0.35, 0.95)
    return colorsys.hsv_to_rgb(hue, sat, val)


def make_appearance(rng: np.random.Generator, slots: list[tuple[str, str, str]],
                    randomize: bool, appearance_set: str = 'train') -> Appearance:
    """
    Build the appearance of one run.

    :param rng: appearance random stream (independent of the layout stream).
    :param slots: ``(key, class_name, role)`` of every colour slot of the detectable objects.
    :param randomize: False gives the canonical look.
    :param appearance_set: ``train`` or ``heldout``.
    """
    if appearance_set not in APPEARANCE_SETS:
        raise InputError(f'unknown appearance set {appearance_set!r}; '
                         f'expected one of {APPEARANCE_SETS}')
    if not randomize:
        return Appearance()
    spec = _SETS[appearance_set]
    out = Appearance()
    for key, class_name, role in slots:
        rgb = _rgb_from_bin(rng, spec['hue_bins'])
        rgb2 = _rgb_from_bin(rng, spec['hue_bins'])
        texture = str(rng.choice(spec['textures']))
        if class_name == 'pillar':  # pillars stay light so the scene keeps its character
            rgb = tuple(0.75 + 0.25 * c for c in rgb)
        out.materials[key] = Material((*rgb, 1.0), texture, tuple(rgb2))
    floor = np.array(spec['floors'][int(rng.integers(len(spec['floors'])))])
    out.floor_rgb = tuple(np.clip(floor + rng.uniform(-0.05, 0.05, 3), 0, 1))
    out.floor_texture = str(rng.choice(('checker', 'flat')))
    out.light_diffuse = float(rng.uniform(*spec['light']))
    azimuth = rng.uniform(0, 2 * np.pi)
    elevation = rng.uniform(0.9, 1.4)
    out.light_dir = (float(np.cos(azimuth) * np.cos(elevation)),
                     float(np.sin(azimuth) * np.cos(elevation)), -float(np.sin(elevation)))
    out.camera_noise = float(rng.uniform(0.003, 0.015))
    return out
