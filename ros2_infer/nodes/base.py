"""
Shared rclpy plumbing of the inference lifecycle nodes (Humble and Jazzy).

Lifecycle (ros2/demos ``lifecycle_py``): parameters are declared in the constructor;
configure checks them and the model spec and creates publishers and ``/diagnostics``;
activate loads the model, starts the newest-frame worker and subscribes; deactivate
unsubscribes and frees the model (and the CUDA cache); cleanup/shutdown free the rest.
"""

import sys
import traceback
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import (
    FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult)
import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import Node, State, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from ros2_infer.core.errors import Ros2InferError
from ros2_infer.core.model import load_model, Model
from ros2_infer.core.spec import load_spec, ModelSpec
from ros2_infer.models import resolve_model_spec
from ros2_infer.nodes.params import COMMON_PARAMS, Param, validate_all, validate_changes
from ros2_infer.nodes.stats import diagnostic_array, NodeStats
from ros2_infer.nodes.worker import FrameWorker

# One interval for every throttled warning. rclpy keys throttling by call site and refuses a
# call site whose throttle duration changes, so this is a constant, not a parameter.
THROTTLE_S = 5.0


def sensor_qos() -> QoSProfile:
    """
    Return a fresh SensorDataQoS profile (best effort, keep last 5, volatile).

    Fresh because QoS overrides are written into the profile object passed in.
    """
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                      reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def output_qos() -> QoSProfile:
    """Return the outputs' profile: reliable, keep last 10, volatile."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def latched_qos() -> QoSProfile:
    """Return a latched profile (transient local, keep last 1) for label_info."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def descriptor(param: Param) -> ParameterDescriptor:
    """Return the ParameterDescriptor of a :class:`Param` (description, range, read-only)."""
    out = ParameterDescriptor(name=param.name, description=param.full_description(),
                              read_only=param.read_only)
    if param.low is not None and param.high is not None:
        if isinstance(param.default, float):
            out.floating_point_range = [FloatingPointRange(
                from_value=float(param.low), to_value=float(param.high), step=0.0)]
        elif isinstance(param.default, int) and not isinstance(param.default, bool):
            out.integer_range = [IntegerRange(from_value=int(param.low),
                                              to_value=int(param.high), step=1)]
    return out


class ParameterizedNode:
    """
    Mixin for rclpy nodes whose parameters are :class:`Param` data.

    Declares each with its descriptor, validates set-parameters requests all or nothing
    (:func:`~ros2_infer.nodes.params.validate_changes`, ROS-free and unit-tested), and keeps
    the accepted values; :meth:`check_all_parameters` re-checks everything at configure,
    because values from a params file never pass through the set-parameters callback.
    """

    def declare_params(self, params: Iterable[Param]) -> None:
        """Declare ``params`` and register the validating set-parameters callback."""
        self._params: Dict[str, Param] = {p.name: p for p in params}
        self._values: Dict[str, Any] = {}
        for param in self._params.values():
            self._values[param.name] = self.declare_parameter(
                param.name, param.default, descriptor(param)).value
        # Registered after declaring: rclpy runs these callbacks on declare too. Only
        # add_on_set_parameters_callback exists in Humble (pre/post-set hooks are Jazzy+).
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def param(self, name: str) -> Any:
        """Return the current (validated) value of a parameter."""
        return self._values[name]

    def check_combination(self, values: Mapping[str, Any]) -> Optional[str]:
        """Return why a full set of values does not go together (subclasses override)."""
        return None

    def on_parameters_changed(self, changes: Dict[str, Any]) -> None:
        """Apply accepted run-time parameter changes (subclasses override)."""

    def _on_set_parameters(self, parameters: Iterable[Any]) -> SetParametersResult:
        changes, reason = validate_changes(
            self._params, ((p.name, p.value) for p in parameters), self._values,
            self.check_combination)
        if reason is not None:
            return SetParametersResult(successful=False, reason=reason)
        self._values.update(changes)
        if changes:
            self.on_parameters_changed(changes)
        return SetParametersResult(successful=True)

    def check_all_parameters(self) -> Optional[str]:
        """Check every current value; keep them if they pass, else return why not."""
        values = {name: self.get_parameter(name).value for name in self._params}
        reason = validate_all(self._params, values, self.check_combination)
        if reason is None:
            self._values.update(values)
        return reason


class InferenceNode(ParameterizedNode, Node):
    """Base of the detector and depth lifecycle nodes."""

    PARAMS: Tuple[Param, ...] = ()

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        """Declare every parameter and register the validating set-parameters callback."""
        self.stats = NodeStats()
        self.worker: Optional[FrameWorker] = None
        self.model: Optional[Model] = None
        self.spec: Optional[ModelSpec] = None
        self._subscriptions_active: List[Any] = []
        self._diagnostics_pub = None
        self._diagnostics_timer = None
        self._load_error = ''
        super().__init__(node_name, **kwargs)
        self.declare_params(COMMON_PARAMS + self.PARAMS)

    # ---- lifecycle helpers -----------------------------------------------------------------
    def configure_common(self) -> bool:
        """Check parameters and the model spec; create /diagnostics. Log and False on error."""
        problem = self.check_all_parameters()
        if problem is None:
            path = self.param('model.spec')
            if not path:
                problem = ("parameter 'model.spec' is empty: set it to bundled:NAME or a "
                           'model spec YAML (params file or the launch argument '
                           'detector_model:=/path/NAME.yaml)')
            else:
                try:
                    self.spec = load_spec(resolve_model_spec(path))
                except Ros2InferError as exc:
                    problem = f'model.spec {path!r}: {exc}'
        if problem is not None:
            self.get_logger().error(f'cannot configure: {problem}')
            self._load_error = problem
            return False
        self._load_error = ''
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diagnostics_timer = self.create_timer(self.param('diagnostics.period'),
                                                    self.publish_diagnostics)
        return True

    def load_model(self) -> Optional[Model]:
        """Load the configured model; log and return None on failure."""
        try:
            self.model = load_model(
                self.spec, backend=self.param('model.backend') or None,
                device=self.param('model.device'), threads=self.param('model.threads') or None,
                half=self.param('model.half'), warmup_runs=self.param('model.warmup_runs'))
        except Ros2InferError as exc:
            self._load_error = str(exc)
            self.get_logger().error(f'cannot load the model: {exc}')
            return None
        except Exception as exc:  # noqa: B902 - a lifecycle callback must not raise
            self._load_error = f'{type(exc).__name__}: {exc}'
            self.get_logger().error(f'cannot load the model: {traceback.format_exc()}')
            return None
        self._load_error = ''
        self.get_logger().info(f'model {self.spec.name}: {self.model.backend.describe()}')
        return self.model

    def start_worker(self, process: Callable[[Any, float], None]) -> None:
        """Start the newest-frame-wins worker thread."""
        self.worker = FrameWorker(process, name=f'{self.get_name()}_inference',
                                  on_error=self._on_worker_error)
        self.worker.start()

    def _on_worker_error(self, exc: BaseException) -> None:
        self.stats.errors += 1
        self.get_logger().error(f'inference failed: {type(exc).__name__}: {exc}',
                                throttle_duration_sec=THROTTLE_S)

    def subscribe(self, msg_type: Any, topic: str, callback: Callable[[Any], None]) -> Any:
        """Create a SensorDataQoS subscription (QoS overridable by parameters)."""
        sub = self.create_subscription(
            msg_type, topic, callback, sensor_qos(),
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self._subscriptions_active.append(sub)
        return sub

    def stop_inference(self) -> None:
        """Unsubscribe, stop the worker and free the model (deactivate, cleanup, destroy)."""
        for sub in self._subscriptions_active:
            self.destroy_subscription(sub)
        self._subscriptions_active = []
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.model is not None:
            self.model.close()
            self.model = None
            torch = sys.modules.get('torch')
            if torch is not None and torch.cuda.is_available():
                torch.cuda.empty_cache()

    def cleanup_common(self) -> None:
        """Free what configure made."""
        self.stop_inference()
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        if self._diagnostics_pub is not None:
            self.destroy_publisher(self._diagnostics_pub)
            self._diagnostics_pub = None
        self.spec = None

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Stop taking inputs and free the model."""
        self.stop_inference()
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        """Free what configure and activate made."""
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        """Free everything."""
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: State) -> TransitionCallbackReturn:
        """Free what a transition that raised had made; the node goes back to unconfigured."""
        self.get_logger().error(f'a transition from {state.label} raised: everything it made '
                                'is freed; configure again')
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def destroy_lifecycle_publishers(self, publishers: Iterable[Any]) -> None:
        """Destroy the given lifecycle publishers (None entries are skipped)."""
        for pub in publishers:
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)

    def release(self) -> None:
        """Free publishers and node-specific resources (subclasses extend)."""
        self.cleanup_common()

    def destroy_node(self) -> None:
        """Stop the worker before the node's entities go away."""
        self.stop_inference()
        super().destroy_node()

    # ---- diagnostics -----------------------------------------------------------------------
    def diagnostics_extra(self) -> Dict[str, Any]:
        """Return node-specific diagnostic values (subclasses extend)."""
        backend = self.model.backend if self.model is not None else None
        return {
            'model': self.spec.name if self.spec is not None else '',
            'backend': backend.describe() if backend is not None else 'not loaded',
            'active_device': backend.active_device if backend is not None else '',
            'fallback': str(bool(backend is not None and backend.fell_back())),
            'fallback_reason': (backend.fallback_reason or '') if backend is not None else '',
            'load_error': self._load_error,
        }

    def publish_diagnostics(self) -> None:
        """Publish one DiagnosticStatus for this node on /diagnostics."""
        if self._diagnostics_pub is None:
            return
        extra = self.diagnostics_extra()
        dropped = self.worker.dropped if self.worker is not None else 0
        values = self.stats.key_values(dropped, extra)
        if self._load_error:
            level, message = 'ERROR', self._load_error
        elif self.model is None:
            level, message = 'OK', 'inactive'
        elif extra['fallback'] == 'True':
            level, message = 'WARN', f'device fallback: {extra["fallback_reason"]}'
        elif self.stats.rejected:
            level, message = 'WARN', 'some inputs were rejected'
        else:
            level, message = 'OK', 'running'
        self._diagnostics_pub.publish(diagnostic_array(
            None, self.get_clock().now().nanoseconds, f'ros2_infer: {self.get_name()}', level,
            message, values, hardware_id=self.get_fully_qualified_name()))


def autostart(node: InferenceNode) -> bool:
    """Configure and activate ``node`` when its ``autostart`` parameter is true."""
    if not node.param('autostart'):
        return False
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        return False
    return node.trigger_activate() == TransitionCallbackReturn.SUCCESS


def run_nodes(factories: List[Callable[[], InferenceNode]], args: Optional[List[str]] = None,
              ) -> None:
    """
    Run nodes in one process on a MultiThreadedExecutor until shutdown (Ctrl-C, launch).

    Humble/Jazzy form: ``rclpy.init``, spin, then ``destroy_node`` + ``rclpy.try_shutdown``
    whatever happened (``with rclpy.init()`` exists only from Kilted).
    """
    rclpy.init(args=args)
    nodes: List[InferenceNode] = []
    executor = MultiThreadedExecutor()
    try:
        for factory in factories:
            node = factory()
            nodes.append(node)
            executor.add_node(node)
        for node in nodes:
            autostart(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown(timeout_sec=1.0)
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
