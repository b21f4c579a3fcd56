"""The `ros2-infer` command line: demo, sim, replay, train, export, eval, bench (no ROS needed)."""
