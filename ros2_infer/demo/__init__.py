"""
``ros2-infer demo``: simulate, replay through the core pipeline, evaluate, report.

The demo is a driver of the core like the nodes are: it never re-implements detection,
depth, fusion or localization, and only :mod:`ros2_infer.demo.evaluate` reads ground truth.
"""
