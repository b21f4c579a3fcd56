"""The package is what colcon and ROS users expect, and the core stays ROS-free."""

import ast
from pathlib import Path
import sys

from catkin_pkg.package import parse_package

ROOT = Path(__file__).resolve().parents[1]


def test_package_xml_parses_and_validates():
    package = parse_package(str(ROOT / 'package.xml'))
    package.validate()
    assert package.package_format == 3
    assert package.get_build_type() == 'ament_python'
    exec_deps = {d.name for d in package.exec_depends}
    for needed in ('rclpy', 'sensor_msgs', 'vision_msgs', 'tf2_ros_py', 'launch_ros',
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


# Python module -> the rosdep key that installs it, where the two differ.
ROSDEP_KEY = {'tf2_ros': 'tf2_ros_py', 'numpy': 'python3-numpy', 'cv2': 'python3-opencv',
              'yaml': 'python3-yaml'}


def test_every_ros_import_of_the_nodes_and_launch_files_is_an_exec_depend():
    # rosdep installs exec_depends only: an import left out works wherever some other package
    # happened to pull it in, and fails on a minimal install (tf2_ros vs tf2_ros_py).
    exec_deps = {d.name for d in parse_package(str(ROOT / 'package.xml')).exec_depends}
    sources = sorted((ROOT / 'ros2_infer' / 'nodes').glob('*.py')) + sorted(
        (ROOT / 'launch').glob('*.py'))
    missing = set()
    for path in sources:
        for module in _imports(path):
            top = module.split('.')[0]
            if top in sys.stdlib_module_names or top == 'ros2_infer':
                continue
            if ROSDEP_KEY.get(top, top) not in exec_deps:
                missing.add(f'{ROSDEP_KEY.get(top, top)} ({path.relative_to(ROOT)})')
    assert not missing, sorted(missing)
    assert 'tf2_ros' not in exec_deps                # the C++ package has no Python module


def test_core_imports_neither_rclpy_nor_sim():
    offenders = []
    for path in (ROOT / 'ros2_infer' / 'core').rglob('*.py'):
        for module in _imports(path):
            if module.split('.')[0] == 'rclpy' or module.startswith('ros2_infer.sim'):
                offenders.append(f'{path.relative_to(ROOT)} imports {module}')
    assert not offenders, offenders
