"""TorchScript backend: CPU or CUDA, fp32 or fp16; torch FX int8 files run on their engine."""

from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np
from ros2_infer.core.backends.base import Backend, logger
from ros2_infer.core.errors import BackendError, ModelLoadError
from ros2_infer.core.hardware import physical_core_count
import torch


def resolve_torch_device(device: str) -> torch.device:
    """Turn a device setting (cpu, cuda, cuda:N, auto) into a torch device."""
    kind = device.split(':', 1)[0].lower()
    if kind == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if kind not in ('cpu', 'cuda'):
        raise BackendError(f'torchscript: unknown device {device!r}; use cpu, cuda[:N] or auto')
    return torch.device(device)


def set_quantized_engine(engine: str) -> None:
    """Activate the int8 kernel library a torch FX int8 model was converted for."""
    if engine in ('any', ''):
        return
    name = {'arm': 'qnnpack', 'fbgemm': 'fbgemm'}.get(engine, engine)
    supported = torch.backends.quantized.supported_engines
    if name not in supported:
        raise BackendError(f'torchscript: this int8 model needs the {name!r} quantized engine, '
                           f'but this torch build supports only {supported}')
    torch.backends.quantized.engine = name


class TorchScriptBackend(Backend):
    """Runs TorchScript files (``torch.jit.save``) with ``torch.inference_mode``."""

    name = 'torchscript'

    def __init__(self, model_path: Union[str, Path], *, device: str = 'cpu',
                 threads: Optional[int] = None, half: bool = False, output_names=(),
                 quantized_engine: str = 'any', input_names=('images',)):
        super().__init__(model_path, device=device, threads=threads, half=half,
                         output_names=output_names)
        if not self.model_path.is_file():
            raise ModelLoadError(f'model file not found: {self.model_path}')
        wanted = resolve_torch_device(device)
        self._device = wanted
        if wanted.type == 'cuda' and not torch.cuda.is_available():
            self._device = torch.device('cpu')
        self.active_device = str(self._device)
        if self._device.type != wanted.type:
            self.record_fallback('torch reports no usable CUDA device '
                                 f'(torch {torch.__version__}, CUDA build: '
                                 f'{torch.version.cuda or "none"})')
        if half and self._device.type != 'cuda':
            raise BackendError('torchscript: fp16 needs a CUDA device; fp16 on a CPU is slower '
                               'than fp32 (use an int8 variant there)')
        self.threads = threads or physical_core_count()
        torch.set_num_threads(self.threads)
        set_quantized_engine(quantized_engine)
        try:
            self._module = torch.jit.load(str(self.model_path), map_location=self._device)
        except Exception as error:  # torch raises RuntimeError, ValueError, zipfile errors...
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ''
            raise ModelLoadError(f'{self.model_path} cannot be loaded as TorchScript (corrupt, '
                                 f'or saved with torch.save instead of torch.jit.save): '
                                 f'{first_line[:300]}') from None
        self._module.eval()
        if half:
            self._module.half()
        self._input_names = list(input_names)
        logger.info('torchscript: %s on %s, %d threads', self.model_path.name,
                    self.active_device, self.threads)

    @property
    def input_names(self) -> List[str]:
        return list(self._input_names)

    @property
    def input_shapes(self):
        # TorchScript files do not record input shapes; the spec is checked by a trial run.
        return [None] * len(self._input_names)

    def _to_tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if self._device.type == 'cuda':
            tensor = tensor.pin_memory().to(self._device, non_blocking=True)
        if self.half and tensor.is_floating_point():
            tensor = tensor.half()
        return tensor

    def _flatten(self, result) -> List[torch.Tensor]:
        if isinstance(result, torch.Tensor):
            return [result]
        if isinstance(result, dict):
            return [v for value in result.values() for v in self._flatten(value)]
        if isinstance(result, (list, tuple)):
            return [v for value in result for v in self._flatten(value)]
        raise ModelLoadError(f'{self.model_path}: unsupported output type {type(result)}')

    def run(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        tensors = [self._to_tensor(inputs[name]) for name in self._input_names]
        with torch.inference_mode():
            result = self._module(*tensors)
        if isinstance(result, dict) and not self._output_names:
            self._output_names = list(result)
        flat = self._flatten(result)
        if not self._output_names:
            self._output_names = [f'output{i}' for i in range(len(flat))]
        if len(flat) != len(self._output_names):
            raise ModelLoadError(
                f'{self.model_path}: the spec names {len(self._output_names)} outputs '
                f'{self._output_names} but the model returns {len(flat)}')
        return {name: t.detach().float().cpu().numpy() if t.is_floating_point()
                else t.detach().cpu().numpy()
                for name, t in zip(self._output_names, flat)}

    def close(self) -> None:
        self._module = None
        if self._device.type == 'cuda':
            torch.cuda.empty_cache()
