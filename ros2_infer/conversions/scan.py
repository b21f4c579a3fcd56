"""sensor_msgs/LaserScan <-> the core's LaserScan, and scans to points."""

from typing import Any

import numpy as np

from ros2_infer.conversions._common import (
    as_float, f32_field, float_array, frame_id, get, MessageError, MessageTypes, new, resolve,
    stamp_ns)
from ros2_infer.core.sensors import LaserScan


def scan_from_msg(msg: Any) -> LaserScan:
    """
    Return the core LaserScan of a sensor_msgs/LaserScan.

    Beams without a valid return (0.0, inf, NaN, or outside [range_min, range_max], REP 117)
    become NaN; beam ``i`` is at ``angle_min + i * angle_increment``; ``time_increment`` is kept.

    :raises MessageError: no beams, non-finite angles or limits, a zero angle increment,
        range limits that are negative or inverted.
    """
    header = get(msg, 'header')
    angle_min = as_float(get(msg, 'angle_min'), 'angle_min')
    increment = as_float(get(msg, 'angle_increment'), 'angle_increment')
    time_increment = as_float(get(msg, 'time_increment'), 'time_increment')
    scan_time = as_float(get(msg, 'scan_time'), 'scan_time')
    range_min = as_float(get(msg, 'range_min'), 'range_min')
    range_max = as_float(get(msg, 'range_max'), 'range_max')
    ranges = float_array(get(msg, 'ranges'), 'ranges', dtype=np.float32)
    if ranges.size == 0:
        raise MessageError('LaserScan has no ranges')
    if increment == 0.0:
        raise MessageError('LaserScan angle_increment is 0')
    if range_min < 0.0 or range_max <= range_min:
        raise MessageError(f'LaserScan range limits [{range_min}, {range_max}] are invalid')
    intensities = float_array(get(msg, 'intensities'), 'intensities', dtype=np.float32)
    if intensities.size not in (0, ranges.size):
        raise MessageError(f'LaserScan has {intensities.size} intensities for '
                           f'{ranges.size} ranges')
    ranges = ranges.copy()
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(ranges) & (ranges >= range_min) & (ranges <= range_max)
    ranges[~valid] = np.nan
    return LaserScan(stamp_ns=stamp_ns(header), frame_id=frame_id(header), angle_min=angle_min,
                     angle_increment=increment, time_increment=time_increment,
                     scan_time=scan_time, range_min=range_min, range_max=range_max,
                     ranges=ranges)


def scan_to_msg(scan: LaserScan, header: Any, types: MessageTypes = None) -> Any:
    """Return a sensor_msgs/LaserScan of a core LaserScan (no-return beams as +inf)."""
    cls = resolve(types, 'sensor_msgs/msg/LaserScan')
    ranges = np.where(np.isfinite(scan.ranges), scan.ranges, np.inf).astype(np.float32)
    n = ranges.size
    return new(cls, header=header, angle_min=float(scan.angle_min),
               angle_max=float(scan.angle_min + scan.angle_increment * (n - 1)),
               angle_increment=float(scan.angle_increment),
               time_increment=float(scan.time_increment), scan_time=float(scan.scan_time),
               range_min=float(scan.range_min), range_max=float(scan.range_max),
               ranges=f32_field(cls, ranges), intensities=f32_field(cls, np.zeros(0)))


def scan_to_points(scan: LaserScan) -> np.ndarray:
    """Return the valid returns of a scan as (M, 3) points in the scan frame (z = 0)."""
    valid = np.isfinite(scan.ranges)
    angles = scan.angles()[valid]
    ranges = scan.ranges[valid].astype(np.float64)
    return np.stack([ranges * np.cos(angles), ranges * np.sin(angles), np.zeros_like(ranges)],
                    axis=1)
