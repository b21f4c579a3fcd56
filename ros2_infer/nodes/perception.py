"""All perception nodes in one process on a MultiThreadedExecutor (rclpy has no containers)."""

from typing import Optional

from ros2_infer.nodes.base import run_nodes
from ros2_infer.nodes.depth_node import DepthNode
from ros2_infer.nodes.detector_node import DetectorNode
from ros2_infer.nodes.localizer_node import LocalizerNode


def perception_main(args: Optional[list] = None) -> None:
    """Run ``detector``, ``depth`` and ``localizer`` (``ros2 run ros2_infer perception_node``)."""
    run_nodes([DetectorNode, DepthNode, LocalizerNode], args=args)


if __name__ == '__main__':
    perception_main()
