"""
The ``pi`` profile: config/pi.yaml names only real parameters, and its switches pick it.

The launch switch (``profile:=pi``) is checked where launch_ros is installed; the CLI switches
(``ros2-infer replay|demo --profile pi``) and the params file everywhere, aarch64 included.
"""

import argparse
import importlib.util
from pathlib import Path

import pytest
from ros2_infer.models import MODELS_DIR
import yaml

ROOT = Path(__file__).resolve().parents[1]
PI = ROOT / 'config' / 'pi.yaml'
DEFAULT = ROOT / 'config' / 'perception.yaml'


def _sections(path):
    config = yaml.safe_load(path.read_text(encoding='utf-8'))
    return {key: section['ros__parameters'] for key, section in config.items()}


def _declared():
    from ros2_infer.nodes.localizer_support import LOCALIZER_PARAMS
    from ros2_infer.nodes.params import COMMON_PARAMS, DEPTH_PARAMS, DETECTOR_PARAMS

    common = {p.name: p for p in COMMON_PARAMS}
    return {'detector': {**common, **{p.name: p for p in DETECTOR_PARAMS}},
            'depth': {**common, **{p.name: p for p in DEPTH_PARAMS}},
            'localizer': {p.name: p for p in LOCALIZER_PARAMS}}


def test_pi_yaml_names_valid_parameters_with_valid_values():
    pi, declared = _sections(PI), _declared()
    default = _sections(DEFAULT)
    assert set(pi) == set(default)                        # the same node sections, and in
    for section, values in default.items():              # each the same keys: a parameter
        assert set(pi[section]) == set(values), section  # added to one goes in both
    shared = pi['/**']
    for node, params in declared.items():
        values = {**shared, **pi[f'/**/{node}']} if node != 'localizer' else pi['/**/localizer']
        for name, value in values.items():
            assert name in params, f'{node}: {name} is not a declared parameter'
            assert params[name].check(value) is None, params[name].check(value)
    for name in shared:                                   # shared: valid for some node
        assert any(name in params for params in declared.values()), name


def test_pi_profile_settings():
    pi = _sections(PI)
    assert pi['/**']['model.threads'] == 4                # physical cores of a Pi 4/5
    assert pi['/**']['model.device'] == 'cpu'
    assert pi['/**/detector']['model.spec'] == 'bundled:tinydet_int8_arm'
    assert pi['/**/depth']['model.spec'] == 'bundled:tinydepth_int8_arm'
    if not (MODELS_DIR / 'tinydet_int8_arm.yaml').is_file():
        pytest.skip('bundled models not generated yet')
    from ros2_infer.core.spec import load_spec
    from ros2_infer.models import resolve_model_spec

    spec = load_spec(resolve_model_spec(pi['/**/detector']['model.spec']))
    assert (spec.input.width, spec.input.height) == (320, 240)
    assert spec.precision == 'int8' and spec.quantization.engine == 'arm'
    depth = load_spec(resolve_model_spec(pi['/**/depth']['model.spec']))
    assert depth.task == 'depth' and depth.quantization.engine == 'arm'


def _parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def test_replay_profile_switch_picks_the_int8_arm_detector():
    from ros2_infer.cli import replay

    assert replay.detector_spec(_parse(replay, ['bag', '--out', 'x'])) is None  # bundled tinydet
    chosen = replay.detector_spec(_parse(replay, ['bag', '--out', 'x', '--profile', 'pi']))
    assert Path(chosen).name == 'tinydet_int8_arm.yaml'
    given = _parse(replay, ['bag', '--out', 'x', '--profile', 'pi', '--model', 'mine.yaml'])
    assert replay.detector_spec(given) == 'mine.yaml'      # an explicit --model wins


def test_demo_profile_switch_picks_int8():
    from ros2_infer.cli import demo

    assert demo.chosen_backend(_parse(demo, [])) == 'auto'
    assert demo.chosen_backend(_parse(demo, ['--profile', 'pi'])) == 'int8'
    assert demo.chosen_backend(_parse(demo, ['--profile', 'pi', '--backend', 'onnxruntime'])) \
        == 'onnxruntime'


def _launch_module():
    pytest.importorskip('launch_ros')
    path = ROOT / 'launch' / 'perception.launch.py'
    spec = importlib.util.spec_from_file_location('perception_launch_profile', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_profile_selects_pi_yaml_and_turns_depth_off():
    module = _launch_module()
    default = '/opt/ros/share/ros2_infer/config/perception.yaml'
    assert module.profile_settings('default', default, default, '') == (default, True)
    assert module.profile_settings('pi', default, default, '') == (
        '/opt/ros/share/ros2_infer/config/pi.yaml', False)
    # A params file given on the command line and an explicit use_depth win.
    assert module.profile_settings('pi', '/tmp/mine.yaml', default, 'true') == (
        '/tmp/mine.yaml', True)
    with pytest.raises(ValueError):
        module.profile_settings('jetson', default, default, '')
    for file_name, _ in module.PROFILES.values():
        assert (ROOT / 'config' / file_name).is_file()


def test_launch_profile_pi_starts_detector_and_localizer_only():
    module = _launch_module()
    from launch import LaunchContext
    from launch_ros.actions import LifecycleNode

    context = LaunchContext()
    context.launch_configurations.update({
        'namespace': '', 'params_file': '/tmp/perception.yaml', 'log_level': 'info',
        'robot_model': 'waffle_pi', 'use_detector': 'true', 'use_depth': '',
        'detector_model': '', 'depth_model': '', 'device': '', 'compressed': '',
        'use_localizer': 'true', 'slam_input': '', 'profile': 'pi'})
    actions = module.launch_setup(context, default_params_file='/tmp/perception.yaml')
    nodes = [a for a in actions if isinstance(a, LifecycleNode)]
    assert len(nodes) == 2
