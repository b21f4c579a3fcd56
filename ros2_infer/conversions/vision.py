"""
vision_msgs <-> the core's Detections and :class:`Object3D`.

Written against vision_msgs 4.x (Humble, Jazzy): ``BoundingBox2D.center`` is a
``vision_msgs/Pose2D`` with ``position.x/y``, ``ObjectHypothesis.class_id`` is a string.
Older layouts (3.x: ``geometry_msgs/Pose2D`` centre with ``x/y``) are read and written by
duck typing. ``LabelInfo`` exists from vision_msgs 4.1 only: :attr:`VisionTypes.label_info`
is None where it is missing.
"""

from typing import Any, List, Optional, Sequence

import numpy as np

from ros2_infer.conversions._common import (
    as_float, as_str, constructor, f64_field, field_names, get, has_type, MessageError,
    MessageTypes, new, resolve)
from ros2_infer.conversions.geometry import make_pose, quaternion_from_msg, vector_from_msg
from ros2_infer.conversions.structures import Object3D
from ros2_infer.core.detections import Detections


class VisionTypes:
    """The vision_msgs classes (and their layout) resolved once, for filling many messages."""

    def __init__(self, types: MessageTypes = None):
        """Resolve the classes from ``types`` (rosbags typestore mapping, or None for rclpy)."""
        self.types = types

        def r(name: str) -> type:
            return resolve(types, name)

        self.detection2d_array = r('vision_msgs/msg/Detection2DArray')
        self.detection2d = r('vision_msgs/msg/Detection2D')
        self.detection3d_array = r('vision_msgs/msg/Detection3DArray')
        self.detection3d = r('vision_msgs/msg/Detection3D')
        self.bbox2d = r('vision_msgs/msg/BoundingBox2D')
        self.bbox3d = r('vision_msgs/msg/BoundingBox3D')
        self.with_pose = r('vision_msgs/msg/ObjectHypothesisWithPose')
        self.hypothesis = r('vision_msgs/msg/ObjectHypothesis')
        self.pose_with_covariance = r('geometry_msgs/msg/PoseWithCovariance')
        self.vector3 = r('geometry_msgs/msg/Vector3')
        self.point2d = (r('vision_msgs/msg/Point2D')
                        if has_type(types, 'vision_msgs/msg/Point2D') else None)
        self.pose2d = r('vision_msgs/msg/Pose2D' if self.point2d is not None
                        else 'geometry_msgs/msg/Pose2D')
        self.nested_hypothesis = 'hypothesis' in field_names(self.with_pose)
        self.class_field = ('class_id' if 'class_id' in field_names(self.hypothesis) else 'id')
        self.label_info = (r('vision_msgs/msg/LabelInfo')
                           if has_type(types, 'vision_msgs/msg/LabelInfo') else None)
        self.vision_class = (r('vision_msgs/msg/VisionClass')
                             if self.label_info is not None else None)
        self.zero_covariance = f64_field(self.pose_with_covariance, np.zeros(36))
        # 2D results carry no pose: one shared identity pose serves every one of them.
        self._no_pose = new(self.pose_with_covariance,
                            pose=make_pose(types, np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0])),
                            covariance=self.zero_covariance)
        # Builders for the per-detection messages (one frame builds dozens of each).
        self._make_detection2d = constructor(self.detection2d, ('header', 'results', 'bbox',
                                                                'id'))
        self._make_bbox2d = constructor(self.bbox2d, ('center', 'size_x', 'size_y'))
        self._make_with_pose = constructor(
            self.with_pose, ('hypothesis', 'pose') if self.nested_hypothesis
            else ('id', 'score', 'pose'))
        self._make_hypothesis = constructor(self.hypothesis, (self.class_field, 'score'))
        if self.point2d is not None:
            self._make_point2d = constructor(self.point2d, ('x', 'y'))
            self._make_pose2d = constructor(self.pose2d, ('position', 'theta'))
        else:
            self._make_pose2d = constructor(self.pose2d, ('x', 'y', 'theta'))

    def result(self, class_name: str, score: float, pose: Optional[Any] = None,
               covariance: Optional[np.ndarray] = None) -> Any:
        """
        Return an ObjectHypothesisWithPose (``pose`` None: the shared identity pose).

        :param covariance: 3x3 position covariance (the 6x6's x/y/z block; rotation unknown,
            left 0 as vision_msgs publishers do).
        """
        if pose is None:
            with_cov = self._no_pose
        else:
            cov = self.zero_covariance
            if covariance is not None:
                full = np.zeros((6, 6))
                full[:3, :3] = np.asarray(covariance, np.float64).reshape(3, 3)
                cov = f64_field(self.pose_with_covariance, full.ravel())
            with_cov = new(self.pose_with_covariance, pose=pose, covariance=cov)
        if self.nested_hypothesis:
            hypothesis = self._make_hypothesis(**{self.class_field: class_name, 'score': score})
            return self._make_with_pose(hypothesis=hypothesis, pose=with_cov)
        return self._make_with_pose(id=class_name, score=score, pose=with_cov)

    def center2d(self, x: float, y: float) -> Any:
        """Return a BoundingBox2D centre in whichever layout this vision_msgs has."""
        if self.point2d is not None:
            return self._make_pose2d(position=self._make_point2d(x=x, y=y), theta=0.0)
        return self._make_pose2d(x=x, y=y, theta=0.0)


def detections_to_msg(detections: Detections, header: Any, vision: VisionTypes) -> Any:
    """
    Return a vision_msgs/Detection2DArray of core Detections.

    ``header`` (the image's) goes on the array and on every detection; ``class_id`` is the
    spec's class name; boxes become centre + size in source-image pixels.
    """
    boxes = np.asarray(detections.boxes, np.float64).reshape(-1, 4)
    centres = ((boxes[:, :2] + boxes[:, 2:]) * 0.5).tolist()
    sizes = (boxes[:, 2:] - boxes[:, :2]).tolist()
    scores = np.asarray(detections.scores, np.float64).tolist()
    out = []
    make_bbox, make_detection = vision._make_bbox2d, vision._make_detection2d
    for (cx, cy), (w, h), score, name in zip(centres, sizes, scores, detections.labels()):
        bbox = make_bbox(center=vision.center2d(cx, cy), size_x=w, size_y=h)
        out.append(make_detection(header=header, results=[vision.result(name, score)],
                                  bbox=bbox, id=''))
    return new(vision.detection2d_array, header=header, detections=out)


def _center_xy(center: Any) -> List[Any]:
    position = getattr(center, 'position', center)
    return [get(position, 'x'), get(position, 'y')]


def _best(results: Any) -> tuple:
    best_name, best_score = '', -1.0
    for result in results:
        hypothesis = getattr(result, 'hypothesis', result)
        name = getattr(hypothesis, 'class_id', None)
        if name is None:
            name = get(hypothesis, 'id')
        score = as_float(get(hypothesis, 'score'), 'score')
        if score > best_score:
            best_name, best_score = as_str(name, 'class_id'), score
    return best_name, max(best_score, 0.0)


def detections_from_msg(msg: Any, class_names: Sequence[str] = ()) -> Detections:
    """
    Return core Detections of a vision_msgs/Detection2DArray (best hypothesis per box).

    Class ids index ``class_names``; names not in it are appended to the result's names.

    :raises MessageError: non-finite or negative box sizes, non-finite scores.
    """
    names = list(class_names)
    boxes, scores, ids = [], [], []
    for detection in get(msg, 'detections'):
        bbox = get(detection, 'bbox')
        cx, cy = (as_float(v, 'bbox.center') for v in _center_xy(get(bbox, 'center')))
        w = as_float(get(bbox, 'size_x'), 'bbox.size_x')
        h = as_float(get(bbox, 'size_y'), 'bbox.size_y')
        if w < 0 or h < 0:
            raise MessageError(f'negative box size {w} x {h}')
        name, score = _best(get(detection, 'results'))
        if name not in names:
            names.append(name)
        boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        scores.append(score)
        ids.append(names.index(name))
    if not boxes:
        return Detections.empty(tuple(names))
    with np.errstate(over='ignore', invalid='ignore'):
        boxes32 = np.asarray(boxes, np.float32)
    if not np.all(np.isfinite(boxes32)):
        raise MessageError('box coordinates out of range')
    return Detections(boxes32, np.asarray(scores, np.float32), np.asarray(ids, np.int64),
                      tuple(names))


def label_info_to_msg(class_names: Sequence[str], header: Any, vision: VisionTypes,
                      threshold: float = 0.0) -> Optional[Any]:
    """Return a vision_msgs/LabelInfo (id -> class name), or None before vision_msgs 4.1."""
    if vision.label_info is None:
        return None
    if len(class_names) > 65536:
        raise MessageError(f'{len(class_names)} classes do not fit LabelInfo uint16 ids')
    class_map = [new(vision.vision_class, class_id=i, class_name=str(name))
                 for i, name in enumerate(class_names)]
    return new(vision.label_info, header=header, class_map=class_map, threshold=float(threshold))


def objects_to_msg(objects: Sequence[Object3D], header: Any, vision: VisionTypes) -> Any:
    """Return a vision_msgs/Detection3DArray of :class:`Object3D` (in the header's frame)."""
    out = []
    for obj in objects:
        pose = make_pose(vision.types, obj.position, obj.orientation)
        size = np.asarray(obj.size, np.float64)
        bbox = new(vision.bbox3d, center=pose, size=new(vision.vector3, x=float(size[0]),
                                                        y=float(size[1]), z=float(size[2])))
        out.append(new(vision.detection3d, header=header,
                       results=[vision.result(obj.class_name, float(obj.score), pose,
                                              obj.covariance)],
                       bbox=bbox, id=str(obj.id)))
    return new(vision.detection3d_array, header=header, detections=out)


def objects_from_msg(msg: Any) -> List[Object3D]:
    """Return the :class:`Object3D` of a vision_msgs/Detection3DArray."""
    out = []
    for detection in get(msg, 'detections'):
        bbox = get(detection, 'bbox')
        center = get(bbox, 'center')
        size = vector_from_msg(get(bbox, 'size'), 'bbox.size')
        if np.any(size < 0):
            raise MessageError(f'negative box size {size.tolist()}')
        results = get(detection, 'results')
        name, score = _best(results)
        position = vector_from_msg(get(center, 'position'), 'bbox.center.position')
        orientation = quaternion_from_msg(get(center, 'orientation'), 'bbox.center.orientation')
        out.append(Object3D(class_name=name, score=score, position=position,
                            orientation=orientation, size=size,
                            id=as_str(get(detection, 'id'), 'id'),
                            covariance=_position_covariance(results, name)))
    return out


def _position_covariance(results: Any, class_name: str) -> Optional[np.ndarray]:
    """Return the best hypothesis' 3x3 position covariance (None: all zeros, unknown)."""
    for result in results:
        hypothesis = getattr(result, 'hypothesis', result)
        name = getattr(hypothesis, 'class_id', None)
        if name is None:
            name = get(hypothesis, 'id')
        if name != class_name:
            continue
        values = np.asarray(get(get(result, 'pose'), 'covariance'), np.float64)
        if values.size != 36:
            raise MessageError(f'pose covariance has {values.size} values, expected 36')
        block = values.reshape(6, 6)[:3, :3].copy()
        if not np.all(np.isfinite(block)):
            raise MessageError('non-finite pose covariance')
        return None if not np.any(block) else block
    return None
