"""
The rclpy face of ros2_infer: lifecycle nodes that drive the core.

Only ``worker``, ``stats``, ``params`` and ``projection`` import without ROS; the node modules
need rclpy, sensor_msgs, vision_msgs and tf2_ros.
"""
