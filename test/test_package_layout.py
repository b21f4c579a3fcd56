"""The package is what colcon and ROS users expect, and the core stays ROS-free."""

import ast
from pathlib import Path

from catkin_pkg.package import parse_package

ROOT = Path(__file__).resolve().parents[1]


def test_package_xml_parses_and_validates():
    package = parse_package(str(ROOT / 'package.xml'))
    package.validate()
    assert package.package_format == 3
    assert package.get_build_type() == 'ament_python'
    exec_deps = {d.name for d in package.exec_depends}
    for needed in ('rclpy', 'sensor_msgs', 'vision_msgs', 'tf2_ros', 'launch_ros',
                   'lifecycle_msgs', 'diagnostic_msgs', 'message_filters'):
        assert needed in exec_deps, needed
    assert {'ament_flake8', 'ament_pep257', 'ament_xmllint', 'python3-pytest'} <= {
        d.name for d in package.test_depends}


def test_ament_index_marker_and_setup_cfg_script_dir():
    assert (ROOT / 'resource' / 'ros2_infer').is_file()
    assert 'lib/ros2_infer' in (ROOT / 'setup.cfg').read_text()


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_core_imports_neither_rclpy_nor_sim():
    offenders = []
    for path in (ROOT / 'ros2_infer' / 'core').rglob('*.py'):
        for module in _imports(path):
            if module.split('.')[0] == 'rclpy' or module.startswith('ros2_infer.sim'):
                offenders.append(f'{path.relative_to(ROOT)} imports {module}')
    assert not offenders, offenders
