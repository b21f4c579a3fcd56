"""Tests of the simulated world, layouts, appearance sets and the scripted driver (no MuJoCo)."""

import math

import numpy as np
import pytest

from ros2_infer.core.errors import InputError
from ros2_infer.sim import appearance, driver, robot, world


def _layout(seed, n=8):
    return world.generate_layout(np.random.default_rng([seed, 1]), n)


def test_static_geometry_matches_turtlebot3_world():
    # Pillars: the surface is at radius 0.15 from each of the 9 centres.
    pts = np.array([[x + 0.15, y] for x, y in world.PILLAR_XY])
    assert np.allclose(world.static_clearance(pts), 0.0, atol=1e-9)
    # Flat wall sides at y = +-2.54, vertex at x = +-2.933, head prism reaches x = 2.327.
    assert world.static_clearance(np.array([[-0.55, 2.54]]))[0] == pytest.approx(0.0, abs=1e-9)
    assert world.static_clearance(np.array([[-2.9, 0.0]]))[0] == pytest.approx(
        (2.933 - 2.9) * math.cos(math.pi / 6), abs=2e-3)
    assert world.static_clearance(np.array([[2.2, 0.0]]))[0] == pytest.approx(
        (2.327 - 2.2) * math.cos(math.pi / 6), abs=2e-3)
    assert robot.WAFFLE_PI.lidar_height == pytest.approx(0.132)
    assert robot.BURGER.lidar_height == pytest.approx(0.182)


@pytest.mark.parametrize('seed', range(6))
def test_layouts_are_valid(seed):
    objects = _layout(seed)
    assert len(objects) == 8
    assert len({o.class_name for o in objects}) >= 5
    xy = np.array([o.position[:2] for o in objects])
    radius = np.array([world.OBJECT_CLASSES[o.class_name].radius for o in objects])
    assert (world.static_clearance(xy) >= radius).all()
    assert (world.polyline_distance(xy, world.ROUTE) >= radius + 0.4).all()
    gaps = np.linalg.norm(xy[:, None] - xy[None], axis=2) - radius[:, None] - radius[None]
    np.fill_diagonal(gaps, np.inf)
    assert gaps.min() > 0.0
    for o in objects:
        assert o.position[2] == pytest.approx(o.size[2] / 2)


def test_object_classes_span_the_lidar_plane():
    heights = {name: c.size[2] for name, c in world.OBJECT_CLASSES.items()}
    assert len(heights) >= 5
    assert any(h < robot.WAFFLE_PI.lidar_height for h in heights.values())
    assert any(h > 0.3 for h in heights.values())
    assert world.CLASS_NAMES[0] == 'pillar'


def test_seeds_give_distinct_reproducible_layouts():
    assert _layout(3) == _layout(3)
    a, b = _layout(1), _layout(2)
    assert [o.position for o in a] != [o.position for o in b]
    with pytest.raises(InputError, match='fewer objects'):
        _layout(1, 40)


def test_appearance_sets_are_disjoint():
    slots = [(f'{i}/primary', 'barrel', 'primary') for i in range(40)]
    train = appearance.make_appearance(np.random.default_rng(1), slots, True, 'train')
    held = appearance.make_appearance(np.random.default_rng(1), slots, True, 'heldout')
    import colorsys

    def hue_bins(app):
        return {int(colorsys.rgb_to_hsv(*m.rgba[:3])[0] * 12) % 12
                for m in app.materials.values()}

    assert hue_bins(train).isdisjoint(hue_bins(held))
    assert {m.texture for m in train.materials.values()}.isdisjoint(
        {m.texture for m in held.materials.values()})
    canonical = appearance.make_appearance(np.random.default_rng(1), slots, False)
    assert canonical.materials == {}
    assert canonical.camera_noise == appearance.CAMERA_NOISE_SIGMA
    with pytest.raises(InputError):
        appearance.make_appearance(np.random.default_rng(1), slots, True, 'test')


@pytest.mark.parametrize('model, seed, kidnap', [
    ('waffle_pi', 1, None), ('waffle_pi', 2, 40.0), ('burger', 3, None)])
def test_driver_covers_arena_without_collisions(model, seed, kidnap):
    spec = robot.get_robot(model)
    traj = driver.drive(spec, 120.0, rng=np.random.default_rng(seed), kidnap_time=kidnap)
    assert driver.footprint_clearance(traj, spec) > 0.05
    assert traj.v.max() <= spec.max_v + 1e-9 and np.abs(traj.w).max() <= spec.max_w + 1e-9
    assert traj.v.min() >= 0.0
    # Objects of any layout stay clear of the robot's footprint.
    objects = _layout(seed)
    xy = np.array([o.position[:2] for o in objects])
    radius = np.array([world.OBJECT_CLASSES[o.class_name].radius for o in objects])
    d = np.linalg.norm(np.stack([traj.x, traj.y], 1)[:, None] - xy[None], axis=2)
    assert (d - radius[None]).min() > 0.25
    # It covers the arena: the driven distance and the visited area are large.
    dist = np.hypot(np.diff(traj.x), np.diff(traj.y))
    if kidnap is not None:
        k = traj.kidnap_tick
        assert dist[k - 1] > 0.5  # the teleport
        dist[k - 1] = 0.0
    assert dist.sum() > 15.0
    assert np.ptp(traj.x) > 3.4 and np.ptp(traj.y) > 2.0
    # pose_at is continuous with the tick states.
    x, y, yaw = traj.pose_at(10.0 + traj.dt)
    k = int(round((10.0 + traj.dt) / traj.dt))
    assert (x, y) == pytest.approx((traj.x[k], traj.y[k]), abs=1e-6)


def test_crowded_layouts_restart_instead_of_failing():
    # Greedy placement used to corner itself on some seeds (9 and 96 here, 131 of the training
    # runs); every seed of a wide range must now place all eight objects.
    for seed in range(100):
        assert len(_layout(seed)) == 8
