"""
ROS-free core of ros2_infer: model runtime, geometry, fusion (numpy/torch/onnxruntime only).

Nothing under this package may import rclpy or ros2_infer.sim.
"""
