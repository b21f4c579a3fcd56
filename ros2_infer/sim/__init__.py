"""
MuJoCo simulation of TurtleBot3 in turtlebot3_world, recorded as a rosbag2 with ground truth.

Entry points: :func:`ros2_infer.sim.simulator.simulate` (library) and ``ros2-infer sim`` (CLI).
MuJoCo is imported lazily, so importing this package is cheap.
"""
