"""
Node parameters as data: name, default, description, range, choices, read-only (no ROS).

The rclpy nodes turn each :class:`Param` into ``declare_parameter`` + ``ParameterDescriptor``
and use :meth:`Param.check` in their set-parameters callback and at configure (values from a
params file skip the callback, so configure checks them again).
"""

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple


@dataclass(frozen=True)
class Param:
    """One node parameter."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    low: Optional[float] = None
    high: Optional[float] = None
    choices: Tuple[str, ...] = ()

    def check(self, value: Any) -> Optional[str]:
        """Return why ``value`` is not acceptable, or None."""
        # Strict types, as rclpy's own check (an integer is not a double parameter).
        kind = type(self.default)
        if type(value) is not kind:
            return (f'{self.name} must be a {kind.__name__}, got {type(value).__name__} '
                    f'{value!r}')
        if self.low is not None and value < self.low:
            return f'{self.name} must be >= {self.low}, got {value}'
        if self.high is not None and value > self.high:
            return f'{self.name} must be <= {self.high}, got {value}'
        if self.choices and value not in self.choices:
            return f'{self.name} must be one of {list(self.choices)}, got {value!r}'
        return None

    def full_description(self) -> str:
        """Return the description, with the choices appended."""
        if not self.choices:
            return self.description
        return f'{self.description} One of: {", ".join(repr(c) for c in self.choices)}.'


# Checks a whole set of values for combinations no single range can express; returns why
# they are not acceptable, or None.
CombinationCheck = Callable[[Mapping[str, Any]], Optional[str]]


def validate_changes(params: Mapping[str, Param], changes: Iterable[Tuple[str, Any]],
                     current: Mapping[str, Any],
                     combination: Optional[CombinationCheck] = None,
                     ) -> Tuple[Dict[str, Any], Optional[str]]:
    """
    Check a set-parameters request all or nothing; return (accepted changes, reason).

    Names that are not ours are ignored (rclpy also passes e.g. ``use_sim_time``); one bad
    value (or a read-only parameter, or a bad combination with the current values) rejects
    the whole request and the reason says which and why; on success the reason is None.
    """
    accepted: Dict[str, Any] = {}
    for name, value in changes:
        param = params.get(name)
        if param is None:
            continue
        if param.read_only:
            return {}, f'{name} is read-only'
        reason = param.check(value)
        if reason is not None:
            return {}, reason
        accepted[name] = value
    if accepted and combination is not None:
        reason = combination({**current, **accepted})
        if reason is not None:
            return {}, reason
    return accepted, None


def validate_all(params: Mapping[str, Param], values: Mapping[str, Any],
                 combination: Optional[CombinationCheck] = None) -> Optional[str]:
    """Return why the full set of ``values`` (e.g. from a params file) is not acceptable."""
    for name, param in params.items():
        reason = param.check(values[name])
        if reason is not None:
            return reason
    return combination(values) if combination is not None else None


COMMON_PARAMS: Tuple[Param, ...] = (
    Param('model.spec', '', 'bundled:NAME for a model shipped with the package (bundled:tinydet, '
          'bundled:tinydet_int8_x86, bundled:tinydet_int8_arm, bundled:tinydepth, ...) or the '
          'path of a model spec YAML (NAME.yaml next to NAME.onnx or NAME.torchscript). Empty: '
          'configure fails with one clear error and the node stays unconfigured.',
          read_only=True),
    Param('model.backend', '', 'Backend; empty: the one the model file implies.',
          read_only=True, choices=('', 'torchscript', 'onnxruntime')),
    Param('model.device', 'cpu', 'Device (ONNX Runtime providers for onnxruntime); a '
          'fallback is logged and reported on /diagnostics.', read_only=True,
          choices=('cpu', 'cuda', 'tensorrt', 'openvino', 'auto')),
    Param('model.threads', 0, 'Intra-op CPU threads; 0: the number of physical cores.',
          read_only=True, low=0, high=256),
    Param('model.half', False, 'Run fp32 TorchScript models in fp16 (CUDA only).',
          read_only=True),
    Param('model.warmup_runs', 2, 'Frames run at activation so the first real frame is not '
          'slow.', read_only=True, low=0, high=100),
    Param('camera_frame', '', 'Optical frame of the camera (z forward): frame_id of the '
          'outputs and TF frame of the projection. Empty: the image header.frame_id. Jazzy '
          "Gazebo stamps images 'camera_rgb_frame' (x forward): set "
          "'camera_rgb_optical_frame' there."),
    Param('diagnostics.period', 1.0, 'Seconds between /diagnostics messages.',
          read_only=True, low=0.1, high=60.0),
    Param('autostart', False, 'Configure and activate by itself (ros2 run, perception_node); '
          'the launch file drives the lifecycle transitions instead.', read_only=True),
)

DETECTOR_PARAMS: Tuple[Param, ...] = (
    Param('input.compressed', False, "Subscribe to 'image/compressed' "
          "(sensor_msgs/CompressedImage, jpeg/png) instead of 'image'.", read_only=True),
    Param('detector.conf_threshold', 0.25, 'Minimum class score of a detection.',
          low=0.0, high=1.0),
    Param('detector.iou_threshold', 0.45, 'IoU above which NMS suppresses the weaker box.',
          low=0.0, high=1.0),
    Param('detector.max_detections', 100, 'Most detections per image.', low=1, high=10000),
)

DEPTH_PARAMS: Tuple[Param, ...] = (
    Param('depth.max_scan_age', 0.25, 'Largest |scan stamp - image stamp| (s) of the scan '
          'used for the fit.', low=0.0, high=5.0),
    Param('depth.fixed_frame', 'odom', 'Frame taken as fixed between the scan and image '
          'stamps (tf2 lookup_transform_full). Empty: one transform at the image stamp.'),
    Param('depth.min_samples', 12, 'Fewest lidar returns in the image for a fit.',
          low=3, high=100000),
    Param('depth.reuse_fit', 1.0, 'Seconds a good fit is reused when the current scan '
          'gives none (robot turned away from walls, scan late).', low=0.0, high=60.0),
)
