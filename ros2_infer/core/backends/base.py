"""The small interface every inference backend implements."""

import abc
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

logger = logging.getLogger('ros2_infer.backend')

# A dimension that is None is dynamic (symbolic in ONNX, unknown in TorchScript).
Shape = Tuple[Optional[int], ...]


class Backend(abc.ABC):
    """
    Runs one model file: named numpy inputs in, named numpy outputs out.

    Subclasses load in ``__init__`` and translate every library failure into a
    :class:`~ros2_infer.core.errors.ModelLoadError` or ``BackendError`` with one clear line.
    ``requested_device`` is what the user asked for, ``active_device`` what really runs; when
    they differ ``fallback_reason`` says why and the backend has already logged it loudly.
    """

    name = 'base'

    def __init__(self, model_path: Union[str, Path], *, device: str = 'cpu',
                 threads: Optional[int] = None, half: bool = False,
                 output_names: Sequence[str] = ()):
        self.model_path = Path(model_path)
        self.requested_device = device
        self.active_device = device
        self.threads = threads
        self.half = half
        self.fallback_reason: Optional[str] = None
        self._output_names: List[str] = list(output_names)

    @property
    @abc.abstractmethod
    def input_names(self) -> List[str]:
        """Names of the model's inputs, in order."""

    @property
    @abc.abstractmethod
    def input_shapes(self) -> List[Optional[Shape]]:
        """Return the static input shapes the model file declares (None where it does not)."""

    @property
    def output_names(self) -> List[str]:
        return list(self._output_names)

    @abc.abstractmethod
    def run(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run one forward pass; inputs and outputs are keyed by tensor name."""

    @property
    def fell_back(self) -> bool:
        return self.fallback_reason is not None

    def record_fallback(self, reason: str) -> None:
        """Remember and loudly report that the requested device is not the one that runs."""
        self.fallback_reason = reason
        logger.error('%s: requested device %r but running on %r: %s', self.name,
                     self.requested_device, self.active_device, reason)

    def describe(self) -> str:
        """One line for logs and diagnostics."""
        text = f'{self.name} on {self.active_device}'
        if self.fell_back:
            text += f' (requested {self.requested_device}: FELL BACK)'
        return text

    def close(self) -> None:
        """Free the model (and accelerator memory); the backend is unusable afterwards."""
