"""
Lifecycle node ``detector``: camera image -> vision_msgs/Detection2DArray.

Subscribes ``image`` (sensor_msgs/Image) or, with ``input.compressed``, ``image/compressed``
(CompressedImage); publishes ``detections`` with the image's header, ``label_info``
(vision_msgs 4.1+, transient local) and ``~/debug_image`` (built only while subscribed).
"""

from typing import Any, Dict, Optional, Tuple

import cv2
import numpy as np
from rclpy.lifecycle import State, TransitionCallbackReturn
from ros2_infer.conversions import (
    array_to_image, compressed_to_array, copy_header, detections_to_msg, image_for_model,
    label_info_to_msg, make_header, MessageError, VisionTypes)
from ros2_infer.core.detections import Detections
from ros2_infer.core.detector import Detector
from ros2_infer.core.errors import InputError
from ros2_infer.nodes.base import (
    InferenceNode, latched_qos, output_qos, run_nodes, THROTTLE_S)
from ros2_infer.nodes.params import DETECTOR_PARAMS
from sensor_msgs.msg import CompressedImage, Image
from vision_msgs.msg import Detection2DArray


def draw_detections(image: np.ndarray, color: str, detections: Detections
                    ) -> Tuple[np.ndarray, str]:
    """Return an rgb8/bgr8 copy of ``image`` with boxes and labels drawn, and its encoding."""
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if color == 'gray' else image.copy()
    for (x0, y0, x1, y1), label, score in zip(detections.boxes.astype(int).tolist(),
                                              detections.labels(), detections.scores.tolist()):
        cv2.rectangle(canvas, (x0, y0), (x1, y1), (0, 255, 0), 2)
        cv2.putText(canvas, f'{label} {score:.2f}', (x0, max(y0 - 4, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0), 1, cv2.LINE_AA)
    return canvas, 'bgr8' if color == 'bgr' else 'rgb8'


class DetectorNode(InferenceNode):
    """Runs the core Detector on the newest camera frame."""

    PARAMS = DETECTOR_PARAMS

    def __init__(self, node_name: str = 'detector', **kwargs: Any) -> None:
        """Declare the parameters; nothing is loaded before configure/activate."""
        self.detector: Optional[Detector] = None
        self.vision: Optional[VisionTypes] = None
        self._detections_pub = None
        self._label_pub = None
        self._debug_pub = None
        super().__init__(node_name, **kwargs)

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Check parameters and the model spec; create the publishers."""
        if not self.configure_common():
            return TransitionCallbackReturn.FAILURE
        if self.spec.task != 'detect':
            self.get_logger().error(f'model.spec {self.spec.name} is a {self.spec.task} model, '
                                    'not a detector')
            self.cleanup_common()
            return TransitionCallbackReturn.FAILURE
        self.vision = VisionTypes()
        self._detections_pub = self.create_lifecycle_publisher(
            Detection2DArray, 'detections', output_qos())
        if self.vision.label_info is not None:
            self._label_pub = self.create_lifecycle_publisher(
                self.vision.label_info, 'label_info', latched_qos())
        else:
            self.get_logger().info('vision_msgs has no LabelInfo (< 4.1): label_info is off; '
                                   'class_id carries the class name')
        self._debug_pub = self.create_lifecycle_publisher(Image, '~/debug_image', output_qos())
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Load the model, start the worker, publish label_info, subscribe."""
        model = self.load_model()
        if model is None:
            return TransitionCallbackReturn.FAILURE
        self.detector = Detector(model, conf_threshold=self.param('detector.conf_threshold'),
                                 iou_threshold=self.param('detector.iou_threshold'),
                                 max_detections=self.param('detector.max_detections'))
        result = super().on_activate(state)
        if self._label_pub is not None:
            header = make_header(None, self.get_clock().now().nanoseconds,
                                 self.param('camera_frame'))
            self._label_pub.publish(label_info_to_msg(
                self.spec.class_names, header, self.vision,
                self.param('detector.conf_threshold')))
        self.start_worker(self._process)
        if self.param('input.compressed'):
            self.subscribe(CompressedImage, 'image/compressed', self._on_image)
        else:
            self.subscribe(Image, 'image', self._on_image)
        return result

    def release(self) -> None:
        """Destroy publishers and the detector."""
        super().release()
        self.detector = None
        self.destroy_lifecycle_publishers((self._detections_pub, self._label_pub,
                                           self._debug_pub))
        self._detections_pub = self._label_pub = self._debug_pub = None

    def on_parameters_changed(self, changes: Dict[str, Any]) -> None:
        """Apply new thresholds to the running detector."""
        detector = self.detector
        if detector is None:
            return
        detector.conf_threshold = self.param('detector.conf_threshold')
        detector.iou_threshold = self.param('detector.iou_threshold')
        detector.max_detections = self.param('detector.max_detections')

    # ---- executor thread: O(1), never inference ------------------------------------------
    def _on_image(self, msg: Any) -> None:
        self.stats.received()
        if self.worker is not None:
            self.worker.submit(msg)

    # ---- worker thread ---------------------------------------------------------------------
    def _process(self, msg: Any, arrived: float) -> None:
        detector = self.detector
        if detector is None:
            return
        try:
            if self.param('input.compressed'):
                image, color = compressed_to_array(msg)
            else:
                image, color = image_for_model(msg)
            frame = self.param('camera_frame')
            header = copy_header(None, msg.header, frame or None)
            detections = detector(image, color)
        except MessageError as exc:
            self.stats.reject('image')
            self.get_logger().warning(f'rejected an image: {exc}',
                                      throttle_duration_sec=THROTTLE_S)
            return
        except InputError as exc:
            self.stats.reject('detector_input')
            self.get_logger().warning(f'the detector rejected an image: {exc}',
                                      throttle_duration_sec=THROTTLE_S)
            return
        self._detections_pub.publish(detections_to_msg(detections, header, self.vision))
        self.stats.published(arrived)
        debug_pub = self._debug_pub
        if debug_pub is not None and debug_pub.get_subscription_count() > 0:
            canvas, encoding = draw_detections(image, color, detections)
            debug_pub.publish(array_to_image(canvas, encoding, header))


def main(args: Optional[list] = None) -> None:
    """Run the detector node (``ros2 run ros2_infer detector_node``)."""
    run_nodes([DetectorNode], args=args)


if __name__ == '__main__':
    main()
