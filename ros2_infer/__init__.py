"""ros2_infer: camera + lidar + odometry + SLAM perception for TurtleBot3-class robots."""

__version__ = '0.1.0'
