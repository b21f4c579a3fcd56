"""
Drive :class:`FusionPipeline` from a rosbag2 in arrival (log-time) order, as a live node would.

``/ground_truth/*`` never reaches the pipeline. The one explicit exception is the oracle mode
``detections='ground-truth'``, where the ground-truth 2D boxes (without their ids) stand in
for a detector; every result of that mode is labelled as such.
"""

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import math
import time

import numpy as np
from ros2_infer.core.detections import Detections
from ros2_infer.core.errors import InputError
from ros2_infer.core.pipeline import FusedPose, FusionPipeline, MapObject
from ros2_infer.replay import messages as conv
from ros2_infer.rosbag.reader import iter_messages

GT_PREFIX = '/ground_truth/'
GT_DETECTIONS = '/ground_truth/detections'
SLAM_POSE_TOPICS = {'/amcl_pose': 'amcl', '/pose': 'slam_toolbox'}
INITIAL_POSE_TOPIC = '/initialpose'       # RViz's 2D Pose Estimate, recorded
CLASS_NAMES = ('pillar', 'traffic_cone', 'box', 'barrel', 'ball', 'chair', 'signpost')
IMAGE_TOPICS = {'/camera/image_raw': False, '/camera/image_raw/compressed': True}


@dataclass
class Streams:
    """What the replay saw and produced, for metrics (all stamps int ns)."""

    odom: list = field(default_factory=list)            # (stamp, x, y, yaw)
    slam: list = field(default_factory=list)            # (stamp, x, y, yaw) at header stamps
    slam_odom: list = field(default_factory=list)       # latest SLAM map->odom ∘ odom
    fused: list = field(default_factory=list)           # (stamp, x, y, yaw, var_x, var_y)
    objects: list = field(default_factory=list)         # (stamp, class, x, y, z, landmark id)
    timings_ms: list = field(default_factory=list)      # (kind, ms) per pipeline event
    stats: dict = field(default_factory=dict)


class Detect:
    """Detections for an image: model inference (newest frame) on the bag's images."""

    def __init__(self, model_spec: str) -> None:
        """Load the detector from a spec path."""
        from ros2_infer.core.detector import Detector
        from ros2_infer.core.model import load_model
        self.detector = Detector(load_model(model_spec))

    def __call__(self, image: np.ndarray, color: str) -> Detections:
        """Detect on a decoded image."""
        return self.detector(image, color)


class Depth:
    """
    The depth model on the bag's images, as the depth node would publish it.

    Each image's depth waits (a few images at most) for that image's detections: the model's
    own boxes or, in oracle mode, the ground-truth boxes that are logged just after the image.
    """

    KEEP = 4

    def __init__(self, model_spec: str) -> None:
        """Load the depth model from a spec path."""
        from ros2_infer.core.depth import DepthEstimator
        from ros2_infer.core.model import load_model
        self.estimator = DepthEstimator(load_model(model_spec))
        self.by_stamp: OrderedDict = OrderedDict()

    def add(self, stamp_ns: int, image: np.ndarray, color: str) -> None:
        """Run the model on one image and keep its map (metric, or relative to be fitted)."""
        result = self.estimator(image, color)
        self.by_stamp[stamp_ns] = (result.values, result.kind != 'metric')
        while len(self.by_stamp) > self.KEEP:
            self.by_stamp.popitem(last=False)

    def take(self, stamp_ns: int) -> tuple:
        """``(depth, relative)`` of the image with this stamp, or ``(None, False)``."""
        return self.by_stamp.pop(stamp_ns, (None, False))


def decode_image(msg, compressed: bool) -> tuple[np.ndarray, str]:
    """
    Decode an Image/CompressedImage message for the models.

    :raises InputError: the image is malformed (the conversions' one error type), as a live
        node would reject it.
    """
    from ros2_infer.conversions.images import compressed_to_array, image_for_model

    return compressed_to_array(msg) if compressed else image_for_model(msg)


def replay(bag, pipeline: FusionPipeline, *, detections: str = 'ground-truth',
           model_spec: str | None = None, stop_ns: int | None = None,
           message_filter: Callable | None = None, on_output: Callable | None = None,
           depth_spec: str | None = None, on_detections: Callable | None = None,
           renames: Mapping[str, str | None] | None = None) -> Streams:
    """
    Replay ``bag`` through ``pipeline``.

    :param detections: ``'ground-truth'`` (oracle boxes, labelled) or ``'model'``.
    :param depth_spec: a depth model's spec: its depth of each image goes with that image's
        detections (objects below the scan plane; a relative model is fitted to the scan).
    :param stop_ns: stop at this log time (a bag cut at T, for causality checks).
    :param renames: ``{recorded topic: topic it is read as, or None}``
        (:func:`ros2_infer.replay.topics.topic_renames`: remaps, a robot namespace).
    :param message_filter: ``f(topic, log_ns, msg) -> msg or None`` (fault injection).
    :param on_output: called with ``(log_ns, Output)`` for every pipeline output.
    :param on_detections: called with ``(log_ns, stamp_ns, frame_id, Detections)`` for each
        image's 2D detections as they go into the pipeline (the detector node's output).
    """
    detect = Detect(model_spec) if detections == 'model' else None
    depth = Depth(depth_spec) if depth_spec else None
    streams = Streams()
    last_m2o = None
    map_frame, odom_frame = pipeline.config.map_frame, pipeline.config.odom_frame
    renames = renames or {}
    for item in iter_messages(bag):
        topic, log_ns, msg = renames.get(item.topic, item.topic), item.log_time_ns, item.msg
        if topic is None:
            continue
        if stop_ns is not None and log_ns >= stop_ns:
            break
        if topic.startswith(GT_PREFIX) and not (topic == GT_DETECTIONS and detect is None):
            continue
        if message_filter is not None:
            msg = message_filter(topic, log_ns, msg)
            if msg is None:
                continue
        t0 = time.perf_counter()
        outputs = []
        kind = topic
        if topic == '/odom':
            o = conv.odometry(msg)
            yaw = o.yaw()
            streams.odom.append((o.stamp_ns, o.position[0], o.position[1], yaw))
            if last_m2o is not None:
                c, s = math.cos(last_m2o[2]), math.sin(last_m2o[2])
                streams.slam_odom.append((o.stamp_ns, last_m2o[0] + c * o.position[0]
                                          - s * o.position[1], last_m2o[1] + s * o.position[0]
                                          + c * o.position[1], last_m2o[2] + yaw))
            outputs = pipeline.on_odom(o)
        elif topic == '/tf' or topic == '/tf_static':
            tfs = conv.transforms(msg)
            for t in tfs:
                if t.parent_frame.lstrip('/') == map_frame and \
                        t.child_frame.lstrip('/') == odom_frame:
                    last_m2o = (t.translation[0], t.translation[1],
                                math.atan2(2 * t.rotation[3] * t.rotation[2],
                                           1 - 2 * t.rotation[2] ** 2))
                    odom = pipeline.odom.at(t.stamp_ns)
                    if odom is not None and topic == '/tf' and \
                            not any(k in SLAM_POSE_TOPICS for k in seen_slam_topics(streams)):
                        c, s = math.cos(last_m2o[2]), math.sin(last_m2o[2])
                        streams.slam.append((t.stamp_ns, last_m2o[0] + c * odom[0] - s * odom[1],
                                             last_m2o[1] + s * odom[0] + c * odom[1],
                                             last_m2o[2] + odom[2]))
            outputs = pipeline.on_tf(tfs, static=topic == '/tf_static')
        elif topic == '/scan':
            outputs = pipeline.on_scan(conv.laser_scan(msg))
        elif topic == '/camera/camera_info':
            outputs = pipeline.on_camera_info(conv.camera_info(msg))
        elif topic == INITIAL_POSE_TOPIC:
            outputs = pipeline.on_initial_pose(conv.pose_stamped(msg))
        elif topic in SLAM_POSE_TOPICS:
            p = conv.pose_stamped(msg)
            streams.stats.setdefault('slam_topics', set()).add(topic)
            streams.slam.append((p.stamp_ns, p.position[0], p.position[1], p.yaw()))
            outputs = pipeline.on_slam_pose(p, SLAM_POSE_TOPICS[topic])
        elif topic == GT_DETECTIONS:
            stamp, dets = conv.detections_2d(msg, CLASS_NAMES)
            # The simulator's ground-truth score is the visible fraction, not a confidence:
            # the oracle is certain of every box it gives.
            dets = Detections(dets.boxes, np.ones_like(dets.scores), dets.class_ids,
                              dets.class_names)
            if on_detections is not None:
                on_detections(log_ns, stamp, msg.header.frame_id, dets)
            kind = 'detections'
            outputs = pipeline.on_detections(
                stamp, dets, *(depth.take(stamp) if depth is not None else (None, False)))
        elif topic in IMAGE_TOPICS and (detect is not None or depth is not None):
            stamp = conv.stamp_ns(msg.header)
            try:
                image, color = decode_image(msg, IMAGE_TOPICS[topic])
            except InputError as error:
                pipeline._fault('bad_image', f'image rejected: {error}', stamp)
                continue
            if depth is not None:
                depth.add(stamp, image, color)
            if detect is None:
                continue
            dets = detect(image, color)
            if on_detections is not None:
                on_detections(log_ns, stamp, msg.header.frame_id, dets)
            t0 = time.perf_counter()         # time the fusion, not the models
            kind = 'detections'
            outputs = pipeline.on_detections(
                stamp, dets, *(depth.take(stamp) if depth is not None else (None, False)))
        else:
            continue
        streams.timings_ms.append((kind, (time.perf_counter() - t0) * 1e3))
        for out in outputs:
            if out.kind == 'pose':
                fp: FusedPose = out.data
                streams.fused.append((out.stamp_ns, fp.pose[0], fp.pose[1], fp.pose[2],
                                      fp.covariance[0, 0], fp.covariance[1, 1]))
            elif out.kind == 'objects':
                for mo in out.data:
                    mo: MapObject
                    streams.objects.append((out.stamp_ns, mo.object.class_name,
                                            *mo.position_map, mo.landmark_id))
            if on_output is not None:
                on_output(log_ns, out)
    streams.stats.update(pipeline.stats())
    streams.stats.pop('slam_topics', None)
    return streams


def seen_slam_topics(streams: Streams) -> set:
    """SLAM pose topics seen so far."""
    return streams.stats.get('slam_topics', set())
