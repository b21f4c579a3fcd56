"""Offline driver: replay a rosbag2 through the fusion pipeline in arrival (log-time) order."""
