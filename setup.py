"""ament_python package setup for ros2_infer (also installable with plain pip)."""

from glob import glob
import os

from setuptools import find_packages, setup

package_name = 'ros2_infer'


def share(folder, pattern):
    return (os.path.join('share', package_name, folder), glob(os.path.join(folder, pattern)))


setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={package_name: ['models/*.yaml', 'models/*.onnx', 'models/*.torchscript',
                                 'models/*.md', 'rosbag/msg/*/*.msg']},
    include_package_data=True,
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        share('launch', '*.launch.py'),
        share('config', '*.yaml'),
    ],
    python_requires='>=3.10',
    install_requires=[
        'setuptools',
        'numpy>=1.21',
        'pyyaml>=5.4',
        'opencv-python-headless>=4.5',
        'onnxruntime>=1.17',
        'onnx>=1.14',
        'transforms3d>=0.4',
        'tqdm>=4.60',
    ],
    extras_require={
        # TorchScript models, training and export. Not needed to run ONNX models (the Pi
        # profile): decoding and NMS are numpy, and torch alone is ~700 MB on aarch64.
        'torch': ['torch>=2.1', 'torchvision>=0.16'],
        'sim': ['mujoco>=3.1', 'rosbags>=0.10', 'mcap-ros2-support>=0.5'],
        'fusion': ['gtsam>=4.2'],
        'train': ['torch>=2.1', 'torchvision>=0.16', 'pycocotools>=2.0.6', 'matplotlib>=3.5'],
        'report': ['matplotlib>=3.5'],
        'test': [
            'torch>=2.1', 'torchvision>=0.16',
            'pytest>=7',
            'hypothesis>=6',
            'rosbags>=0.10',
            'evo>=1.20',        # the ATE is checked against evo_ape's (test_replay.py)
            'flake8-blind-except', 'flake8-builtins', 'flake8-class-newline',
            'flake8-comprehensions', 'flake8-deprecated', 'flake8-docstrings',
            'flake8-import-order', 'flake8-quotes',
        ],
    },
    zip_safe=False,
    maintainer='ros2_infer maintainers',
    maintainer_email='maintainers@ros2-infer.dev',
    description='TurtleBot3 perception: detections, depth, landmarks and fused pose.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'ros2-infer = ros2_infer.cli.main:main',
            'detector_node = ros2_infer.nodes.detector_node:main',
            'depth_node = ros2_infer.nodes.depth_node:main',
            'localizer_node = ros2_infer.nodes.localizer_node:main',
            'perception_node = ros2_infer.nodes.perception:perception_main',
        ],
    },
)
