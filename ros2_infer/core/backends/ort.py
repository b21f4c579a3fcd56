"""ONNX Runtime backend: execution providers chosen from a ``device`` setting, never silently."""

from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np
import onnxruntime as ort

from ros2_infer.core.backends.base import Backend, logger
from ros2_infer.core.errors import BackendError, ModelLoadError
from ros2_infer.core.hardware import physical_core_count

# device setting -> providers to ask for, best first (CPU is always the last resort).
_DEVICE_PROVIDERS = {
    'cpu': ['CPUExecutionProvider'],
    'cuda': ['CUDAExecutionProvider', 'CPUExecutionProvider'],
    'tensorrt': ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider'],
    'openvino': ['OpenVINOExecutionProvider', 'CPUExecutionProvider'],
}
_ORT_TYPES = {
    'tensor(float)': np.float32, 'tensor(float16)': np.float16, 'tensor(uint8)': np.uint8,
    'tensor(int8)': np.int8, 'tensor(int64)': np.int64, 'tensor(int32)': np.int32,
    'tensor(double)': np.float64,
}


def providers_for_device(device: str) -> List[str]:
    """
    Map a device setting to the provider list to request.

    ``auto`` asks for the best provider this onnxruntime build has; ``cuda:1`` picks a GPU.
    """
    kind = device.split(':', 1)[0].lower()
    if kind == 'auto':
        installed = ort.get_available_providers()
        for candidate in ('tensorrt', 'cuda', 'openvino'):
            if _DEVICE_PROVIDERS[candidate][0] in installed:
                return list(_DEVICE_PROVIDERS[candidate])
        return ['CPUExecutionProvider']
    if kind not in _DEVICE_PROVIDERS:
        raise BackendError(f'onnxruntime: unknown device {device!r}; use cpu, cuda[:N], '
                           f'tensorrt[:N], openvino or auto')
    return list(_DEVICE_PROVIDERS[kind])


class OnnxRuntimeBackend(Backend):
    """Runs ``.onnx`` files (fp32, fp16 or int8 QDQ) with onnxruntime."""

    name = 'onnxruntime'

    def __init__(self, model_path: Union[str, Path], *, device: str = 'cpu',
                 threads: Optional[int] = None, half: bool = False, output_names=()):
        super().__init__(model_path, device=device, threads=threads, half=half,
                         output_names=output_names)
        if not self.model_path.is_file():
            raise ModelLoadError(f'model file not found: {self.model_path}')
        wanted = providers_for_device(device)
        installed = ort.get_available_providers()
        missing = [p for p in wanted[:-1] if p not in installed]
        providers = [p for p in wanted if p in installed] or ['CPUExecutionProvider']
        provider_options = []
        gpu_index = device.split(':', 1)[1] if ':' in device else None
        for provider in providers:
            options = {}
            if gpu_index is not None and provider in ('CUDAExecutionProvider',
                                                      'TensorrtExecutionProvider'):
                options['device_id'] = gpu_index
            provider_options.append(options)
        session_options = ort.SessionOptions()
        self.threads = threads or physical_core_count()
        session_options.intra_op_num_threads = self.threads
        session_options.inter_op_num_threads = 1
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(self.model_path), session_options,
                                                 providers=providers,
                                                 provider_options=provider_options)
        except Exception as error:  # ORT raises many unrelated types for bad files
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ''
            raise ModelLoadError(f'{self.model_path} cannot be loaded by onnxruntime (corrupt '
                                 f'or not an ONNX model): {first_line[:300]}') from None
        active = self._session.get_providers()
        self.active_device = active[0] if active else 'CPUExecutionProvider'
        if self.active_device != wanted[0]:
            why = (f'{", ".join(missing)} not in this onnxruntime build '
                   f'(installed: {", ".join(installed)})' if missing
                   else 'the provider failed to initialise')
            self.record_fallback(why)
        self._inputs = self._session.get_inputs()
        self._input_dtypes = {i.name: _ORT_TYPES.get(i.type, np.float32) for i in self._inputs}
        session_outputs = [o.name for o in self._session.get_outputs()]
        if not self._output_names:
            self._output_names = session_outputs
        elif len(self._output_names) != len(session_outputs):
            raise ModelLoadError(
                f'{self.model_path}: the spec names {len(self._output_names)} outputs '
                f'{self._output_names} but the model has {len(session_outputs)} '
                f'{session_outputs}')
        self._session_output_names = session_outputs
        logger.info('onnxruntime: %s on %s, %d threads', self.model_path.name,
                    self.active_device, self.threads)

    @property
    def input_names(self) -> List[str]:
        return [i.name for i in self._inputs]

    @property
    def input_shapes(self):
        return [tuple(d if isinstance(d, int) and d > 0 else None for d in i.shape)
                for i in self._inputs]

    def input_dtype(self, name: str):
        return self._input_dtypes[name]

    def run(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        outputs = self._session.run(self._session_output_names, inputs)
        return dict(zip(self._output_names, outputs))

    def close(self) -> None:
        self._session = None
