"""2D detector: spec + backend + preprocessing + output decoder + NMS."""

import time
from typing import Optional

import numpy as np

from ros2_infer.core.decoders import decode_torchvision, DETECTION_DECODERS
from ros2_infer.core.detections import Detections
from ros2_infer.core.errors import SpecError
from ros2_infer.core.model import Model
from ros2_infer.core.preprocess import Preprocessor


class Detector:
    """
    Detects objects in one image at a time.

    Not thread-safe (buffers are reused): give each worker thread its own detector.
    """

    def __init__(self, model: Model, *, conf_threshold: float = 0.25,
                 iou_threshold: float = 0.45, max_detections: int = 100):
        if model.spec.task != 'detect':
            raise SpecError(f'{model.spec.name}: task is {model.spec.task!r}, not detect')
        self.model = model
        self.spec = model.spec
        self.conf_threshold = conf_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        self.preprocess = Preprocessor(self.spec.input)
        self.last_raw_outputs = {}

    def __call__(self, image: np.ndarray, color: str = 'rgb',
                 conf_threshold: Optional[float] = None) -> Detections:
        """Detect in an HxWx3 (or HxW) uint8 image; timings per stage land in the result."""
        start = time.perf_counter()
        tensor, transform = self.preprocess(image, color)
        prepared = time.perf_counter()
        outputs = self.model.run(tensor)
        inferred = time.perf_counter()
        self.last_raw_outputs = outputs
        threshold = self.conf_threshold if conf_threshold is None else conf_threshold
        out_format = self.spec.output.format
        if out_format == 'torchvision':
            boxes, scores, class_ids = decode_torchvision(
                outputs, conf_threshold=threshold, max_detections=self.max_detections)
        else:
            boxes, scores, class_ids = DETECTION_DECODERS[out_format](
                next(iter(outputs.values())), num_classes=len(self.spec.class_names),
                conf_threshold=threshold, iou_threshold=self.iou_threshold,
                max_detections=self.max_detections,
                input_size=(self.spec.input.width, self.spec.input.height),
                normalized_boxes=self.spec.output.normalized_boxes)
        boxes = transform.boxes_to_source(boxes)
        done = time.perf_counter()
        return Detections(boxes, scores, class_ids, self.spec.class_names, timings_ms={
            'preprocess': (prepared - start) * 1e3,
            'inference': (inferred - prepared) * 1e3,
            'postprocess': (done - inferred) * 1e3,
        })
