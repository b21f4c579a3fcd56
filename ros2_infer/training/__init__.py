"""Model architectures, training on simulated data, and export (needs torch, not ROS)."""
