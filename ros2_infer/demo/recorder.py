"""
Record what the demo needs while the replay runs.

Detections as produced online, stage timings, a few camera frames for the report and depth
samples with the lidar overlaid.

Nothing here reads ``/ground_truth/*`` (the replay never passes those topics on).
"""

from dataclasses import dataclass, field
import time

import numpy as np

from ros2_infer.core.detections import Detections
from ros2_infer.core.geometry import invert_matrix, TfBuffer
from ros2_infer.core.pipeline import FusionPipeline, Output, PipelineConfig
from ros2_infer.replay import messages as conv

IMAGE_TOPICS = ('/camera/image_raw', '/camera/image_raw/compressed')
MEMORY_EVERY = 100      # images between two resident-memory / queue samples


def resident_mb() -> float | None:
    """Resident memory of this process in MB (Linux ``/proc``), or None elsewhere."""
    import os
    try:
        with open('/proc/self/statm') as statm:
            return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Frame:
    """One camera frame kept for the report (annotated later)."""

    stamp_ns: int
    image: np.ndarray
    detections: Detections | None = None
    objects: list = field(default_factory=list)   # MapObject list of the fusion, if any


@dataclass
class DepthSample:
    """A depth-model output with the lidar points projected into the same image."""

    stamp_ns: int
    image: np.ndarray
    depth: np.ndarray
    lidar_uv: np.ndarray        # (M, 2) pixels
    lidar_depth: np.ndarray     # (M,) optical z (m)


def decode_rgb(msg, compressed: bool) -> np.ndarray:
    """RGB uint8 array of an Image (rgb8/bgr8) or CompressedImage message."""
    import cv2
    if compressed:
        bgr = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
        return np.ascontiguousarray(bgr[:, :, ::-1])
    rgb = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, -1)
    return np.ascontiguousarray(rgb[:, :, ::-1] if msg.encoding == 'bgr8' else rgb)


class Recorder:
    """
    Observe a replay: a message filter (sees every input first) plus a pipeline hook.

    :param frame_every: keep every N-th camera frame for the annotated grid.
    :param depth_every: run the depth model on every N-th camera frame.
    :param depth_estimator: a :class:`ros2_infer.core.depth.DepthEstimator` or None.
    """

    def __init__(self, *, frame_every: int, depth_every: int, depth_estimator=None,
                 base_frame: str = 'base_footprint', progress=None,
                 max_frames: int = 12, max_depth: int = 6) -> None:
        self.frame_every = max(1, frame_every)
        self.depth_every = max(1, depth_every)
        self.depth_estimator = depth_estimator
        self.base_frame = base_frame
        self.progress = progress
        self.max_frames = max_frames
        self.max_depth = max_depth
        self.tf = TfBuffer()
        self.camera = None
        self.scan = None
        self.images = 0
        self.next_depth = 0                           # image index of the next depth sample
        self.arrival: dict[int, float] = {}           # image stamp -> time its filter returned
        self.predictions: dict[int, Detections] = {}  # image stamp -> detections (online)
        self.frames: dict[int, Frame] = {}
        self.depth_samples: list[DepthSample] = []
        self.timings: dict[str, list] = {}
        self.memory: list = []                        # (images, RSS MB, pipeline queue length)

    def time(self, stage: str, ms: float) -> None:
        """Add one latency sample of ``stage``."""
        self.timings.setdefault(stage, []).append(float(ms))

    # -------------------------------------------------------------- replay hooks
    def message_filter(self, topic: str, log_ns: int, msg):
        """Observe one input message before the pipeline sees it; pass it on unchanged."""
        if self.progress is not None:
            self.progress.update(1)
        if topic == '/tf_static':
            for t in conv.transforms(msg):
                self.tf.set_transform(t.parent_frame, t.child_frame, t.stamp_ns,
                                      t.translation, t.rotation, static=True)
        elif topic == '/camera/camera_info':
            self.camera = conv.camera_info(msg)
        elif topic == '/scan':
            self.scan = msg
        elif topic in IMAGE_TOPICS:
            self._on_image(msg, topic.endswith('compressed'))
        return msg

    def _on_image(self, msg, compressed: bool) -> None:
        index = self.images
        self.images += 1
        stamp = conv.stamp_ns(msg.header)
        keep_frame = index % self.frame_every == 0 and len(self.frames) < self.max_frames
        # Depth samples wait for a scan and the camera model, so that the lidar can be overlaid.
        keep_depth = (self.depth_estimator is not None and index >= self.next_depth
                      and self.scan is not None and self.camera is not None
                      and len(self.depth_samples) < self.max_depth)
        if keep_frame or keep_depth:
            image = decode_rgb(msg, compressed)
            if keep_frame:
                self.frames[stamp] = Frame(stamp, image)
            if keep_depth:
                self._depth_sample(stamp, image)
                self.next_depth = index + self.depth_every
        self.arrival[stamp] = time.perf_counter()

    def _depth_sample(self, stamp: int, image: np.ndarray) -> None:
        result = self.depth_estimator(image)
        self.time('depth model', sum(result.timings_ms.values()))
        depth = self.depth_estimator.to_metric(result, None)
        uv, z = np.zeros((0, 2)), np.zeros(0)
        if self.scan is not None and self.camera is not None:
            uv, z = self._lidar_in_image()
        self.depth_samples.append(DepthSample(stamp, image, depth, uv, z))

    def _lidar_in_image(self) -> tuple[np.ndarray, np.ndarray]:
        """Project the latest scan into the camera with the static TF (no motion compensation)."""
        from ros2_infer.core.camera import PinholeCamera
        from ros2_infer.core.lidar import scan_points

        scan = conv.laser_scan(self.scan)
        base_from_scan = self.tf.lookup(self.base_frame, scan.frame_id, scan.stamp_ns)
        base_from_cam = self.tf.lookup(self.base_frame, self.camera.frame_id, scan.stamp_ns)
        if base_from_scan is None or base_from_cam is None:
            return np.zeros((0, 2)), np.zeros(0)
        points, _ = scan_points(scan)
        homog = np.concatenate([points, np.zeros((len(points), 1)),
                                np.ones((len(points), 1))], axis=1)
        cam = (invert_matrix(base_from_cam) @ base_from_scan @ homog.T).T[:, :3]
        camera = PinholeCamera(self.camera)
        uv, front = camera.project(cam)
        inside = front & camera.in_image(uv)
        return uv[inside], cam[inside, 2]

    def on_detections(self, stamp_ns: int, detections: Detections) -> None:
        """Record the detections of one image (called when the pipeline receives them)."""
        now = time.perf_counter()
        self.predictions[stamp_ns] = detections
        stages = detections.timings_ms or {}
        for name, ms in stages.items():
            self.time(f'detector {name}', ms)
        arrived = self.arrival.pop(stamp_ns, None)
        if arrived is not None:
            # From the message to its detections, minus the model stages: image decoding.
            self.time('image decode', max(0.0, (now - arrived) * 1e3 - sum(stages.values())))
        if stamp_ns in self.frames:
            self.frames[stamp_ns].detections = detections

    def on_output(self, out: Output) -> None:
        """Keep the fusion's 3D objects of the frames kept for the report."""
        if out.kind == 'objects' and out.stamp_ns in self.frames:
            self.frames[out.stamp_ns].objects = list(out.data)


class RecordingPipeline(FusionPipeline):
    """The core :class:`FusionPipeline`, unchanged, telling a :class:`Recorder` what it got."""

    def __init__(self, config: PipelineConfig, recorder: Recorder, **kwargs) -> None:
        """Create the pipeline; ``recorder`` sees every detections input."""
        super().__init__(config, **kwargs)
        self.recorder = recorder

    def on_detections(self, stamp_ns: int, detections: Detections,
                      depth: np.ndarray | None = None,
                      relative_depth: bool = False) -> list[Output]:
        """Record, then queue the detections exactly as the base class does."""
        self.recorder.on_detections(stamp_ns, detections)
        if len(self.recorder.predictions) % MEMORY_EVERY == 1:
            self.recorder.memory.append((len(self.recorder.predictions), resident_mb(),
                                         len(self.pending)))
        return super().on_detections(stamp_ns, detections, depth, relative_depth)
