"""
Lifecycle node ``depth``: camera image + camera_info + scan -> metric depth image.

A relative (inverse-depth) model is scaled to metres by fitting its output to the LDS returns
projected into the image: the scan nearest the image stamp, moved into the optical frame with
TF at the two stamps (through ``depth.fixed_frame``), looked up without waiting. Publishes
``depth`` (32FC1, metres, NaN = no depth, REP 118) and ``~/confidence`` (32FC1, 0..1).
"""

from collections import deque
import threading
from typing import Any, Deque, Optional

from rclpy.clock import JumpThreshold
from rclpy.duration import Duration
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.time import Time
from ros2_infer.conversions import (
    array_to_image, camera_info_from_msg, copy_header, image_for_model, MessageError,
    scan_from_msg, stamp_ns, transform_from_msg)
from ros2_infer.core.depth import DepthEstimator, DepthFit
from ros2_infer.core.errors import InputError
from ros2_infer.core.sensors import CameraInfo, LaserScan
from ros2_infer.nodes.base import InferenceNode, output_qos, run_nodes, THROTTLE_S
from ros2_infer.nodes.params import DEPTH_PARAMS
from ros2_infer.nodes.projection import confidence_map, fit_to_lidar
from sensor_msgs.msg import CameraInfo as CameraInfoMsg, Image, LaserScan as LaserScanMsg
import tf2_ros


class DepthNode(InferenceNode):
    """Runs the core DepthEstimator on the newest frame and scales it to the lidar."""

    PARAMS = DEPTH_PARAMS

    def __init__(self, node_name: str = 'depth', **kwargs: Any) -> None:
        """Declare the parameters; nothing is loaded before configure/activate."""
        self.estimator: Optional[DepthEstimator] = None
        self._depth_pub = None
        self._confidence_pub = None
        self._tf_buffer: Optional[tf2_ros.Buffer] = None
        self._tf_listener = None
        self._jump_handle = None
        self._lock = threading.Lock()
        self._camera: Optional[CameraInfo] = None
        self._scans: Deque[LaserScan] = deque(maxlen=20)
        self._last_fit: Optional[DepthFit] = None
        self._last_fit_ns = 0
        super().__init__(node_name, **kwargs)

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Check parameters and the spec; create publishers, the TF listener, the jump hook."""
        if not self.configure_common():
            return TransitionCallbackReturn.FAILURE
        if self.spec.task != 'depth':
            self.get_logger().error(f'model.spec {self.spec.name} is a {self.spec.task} model, '
                                    'not a depth model')
            self.cleanup_common()
            return TransitionCallbackReturn.FAILURE
        self._depth_pub = self.create_lifecycle_publisher(Image, 'depth', output_qos())
        self._confidence_pub = self.create_lifecycle_publisher(Image, '~/confidence',
                                                               output_qos())
        self._tf_buffer = tf2_ros.Buffer()
        self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)
        # Humble's tf2 buffer keeps stale transforms across a backwards jump (bag loop, sim
        # reset) and then refuses every lookup: clear it, and our caches, ourselves.
        self._jump_handle = self.get_clock().create_jump_callback(
            JumpThreshold(min_forward=None, min_backward=Duration(seconds=-1),
                          on_clock_change=True),
            post_callback=self._on_time_jump)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Load the model, start the worker, subscribe."""
        model = self.load_model()
        if model is None:
            return TransitionCallbackReturn.FAILURE
        self.estimator = DepthEstimator(model)
        result = super().on_activate(state)
        self.start_worker(self._process)
        self.subscribe(CameraInfoMsg, 'camera_info', self._on_camera_info)
        self.subscribe(LaserScanMsg, 'scan', self._on_scan)
        self.subscribe(Image, 'image', self._on_image)
        return result

    def release(self) -> None:
        """Destroy publishers, TF listener and caches."""
        super().release()
        self.estimator = None
        self.destroy_lifecycle_publishers((self._depth_pub, self._confidence_pub))
        self._depth_pub = self._confidence_pub = None
        if self._tf_listener is not None and hasattr(self._tf_listener, 'unregister'):
            self._tf_listener.unregister()
        if self._jump_handle is not None:
            # rcl keeps only a borrowed pointer to the callback: a handle dropped without
            # unregistering leaves a dangling callback for the next time jump.
            self._jump_handle.unregister()
        self._tf_listener = self._tf_buffer = self._jump_handle = None
        self._on_time_jump(None)

    def _on_time_jump(self, _jump: Any) -> None:
        with self._lock:
            if self._tf_buffer is not None:
                self._tf_buffer.clear()
            self._scans.clear()
            self._camera = None
            self._last_fit = None

    # ---- executor thread: cheap conversions, never inference ------------------------------
    def _on_camera_info(self, msg: Any) -> None:
        try:
            camera = camera_info_from_msg(msg)
        except MessageError as exc:
            self.stats.reject('camera_info')
            self.get_logger().warning(f'rejected a camera_info: {exc}',
                                      throttle_duration_sec=THROTTLE_S)
            return
        with self._lock:
            self._camera = camera

    def _on_scan(self, msg: Any) -> None:
        try:
            scan = scan_from_msg(msg)
        except MessageError as exc:
            self.stats.reject('scan')
            self.get_logger().warning(f'rejected a scan: {exc}',
                                      throttle_duration_sec=THROTTLE_S)
            return
        with self._lock:
            self._scans.append(scan)

    def _on_image(self, msg: Any) -> None:
        self.stats.received()
        if self.worker is not None:
            self.worker.submit(msg)

    # ---- worker thread ---------------------------------------------------------------------
    def _nearest_scan(self, stamp: int) -> Optional[LaserScan]:
        with self._lock:
            scans = list(self._scans)
        if not scans:
            return None
        scan = min(scans, key=lambda s: abs(s.stamp_ns - stamp))
        if abs(scan.stamp_ns - stamp) > self.param('depth.max_scan_age') * 1e9:
            return None
        return scan

    def _camera_from_scan(self, camera_frame: str, image_ns: int, scan: LaserScan) -> Any:
        """Return the 4x4 scan->optical transform; tf2 errors propagate (never waits)."""
        fixed = self.param('depth.fixed_frame')
        image_time = Time(nanoseconds=image_ns, clock_type=self.get_clock().clock_type)
        if fixed:
            scan_time = Time(nanoseconds=scan.stamp_ns, clock_type=image_time.clock_type)
            msg = self._tf_buffer.lookup_transform_full(
                camera_frame, image_time, scan.frame_id, scan_time, fixed, timeout=Duration())
        else:
            msg = self._tf_buffer.lookup_transform(camera_frame, scan.frame_id, image_time,
                                                   timeout=Duration())
        return transform_from_msg(msg).matrix()

    def _fit(self, relative: Any, camera: CameraInfo, camera_frame: str, stamp: int
             ) -> Optional[DepthFit]:
        scan = self._nearest_scan(stamp)
        fit = None
        if scan is None:
            self.stats.reject('no_scan')
            self.get_logger().warning('no scan within depth.max_scan_age of the image',
                                      throttle_duration_sec=THROTTLE_S)
        else:
            try:
                transform = self._camera_from_scan(camera_frame, stamp, scan)
            except tf2_ros.TransformException as exc:
                self.stats.reject('tf')
                self.get_logger().warning(f'no transform {scan.frame_id} -> {camera_frame} '
                                          f'at the stamps: {exc}',
                                          throttle_duration_sec=THROTTLE_S)
            else:
                fit = fit_to_lidar(relative, camera, scan, transform,
                                   self.param('depth.min_samples'))
                if fit.ok:
                    with self._lock:
                        self._last_fit, self._last_fit_ns = fit, stamp
                    return fit
                self.stats.reject('fit')
                self.get_logger().warning(f'lidar fit failed: {fit.reason}',
                                          throttle_duration_sec=THROTTLE_S)
        with self._lock:
            last, last_ns = self._last_fit, self._last_fit_ns
        if last is not None and abs(stamp - last_ns) <= self.param('depth.reuse_fit') * 1e9:
            return last
        return None

    def _process(self, msg: Any, arrived: float) -> None:
        estimator = self.estimator
        if estimator is None:
            return
        try:
            image, color = image_for_model(msg)
            stamp = stamp_ns(msg.header)
            camera_frame = self.param('camera_frame') or msg.header.frame_id
            with self._lock:
                camera = self._camera
            if camera is None:
                raise InputError('no camera_info received yet')
            if (camera.width, camera.height) != (image.shape[1], image.shape[0]):
                raise InputError(f'camera_info is {camera.width}x{camera.height}, the image '
                                 f'{image.shape[1]}x{image.shape[0]}')
            result = estimator(image, color)
        except InputError as exc:
            self.stats.reject('image')
            self.get_logger().warning(f'rejected an image: {exc}',
                                      throttle_duration_sec=THROTTLE_S)
            return
        fit = None
        if result.kind != 'metric':
            try:
                fit = self._fit(result.values, camera, camera_frame, stamp)
            except InputError as exc:
                self.stats.reject('camera_info')
                self.get_logger().warning(f'cannot project the scan: {exc}',
                                          throttle_duration_sec=THROTTLE_S)
                return
            if fit is None:
                return
        depth = estimator.to_metric(result, fit)
        header = copy_header(None, msg.header, camera_frame)
        self._depth_pub.publish(array_to_image(depth, '32FC1', header))
        self.stats.published(arrived)
        if self._confidence_pub.get_subscription_count() > 0:
            quality = fit if fit is not None else DepthFit(1.0, 0.0, 1, 1, 0.0, True, True)
            self._confidence_pub.publish(array_to_image(confidence_map(depth, quality),
                                                        '32FC1', header))

    def diagnostics_extra(self) -> dict:
        """Add the last fit's quality to the diagnostics."""
        extra = super().diagnostics_extra()
        fit = self._last_fit
        if fit is not None:
            extra.update({'fit_scale': f'{fit.scale:.4g}', 'fit_shift': f'{fit.shift:.4g}',
                          'fit_inliers': f'{fit.inliers}/{fit.samples}',
                          'fit_rms_inverse_error': f'{fit.rms_inverse_error:.4f}'})
        return extra


def main(args: Optional[list] = None) -> None:
    """Run the depth node (``ros2 run ros2_infer depth_node``)."""
    run_nodes([DepthNode], args=args)


if __name__ == '__main__':
    main()
