"""
Inference backends behind one interface, chosen by name and imported lazily.

int8 and fp16 are model variants (files with their own spec), not separate backends: an
int8 ONNX QDQ file runs on ``onnxruntime``, a torch FX int8 file on ``torchscript``.
"""

import importlib
import importlib.util
from pathlib import Path
from typing import List, Union

from ros2_infer.core.backends.base import Backend
from ros2_infer.core.errors import BackendError

# name -> (module, class, pip package that provides the runtime)
_REGISTRY = {
    'torchscript': ('ros2_infer.core.backends.torchscript', 'TorchScriptBackend', 'torch'),
    'onnxruntime': ('ros2_infer.core.backends.ort', 'OnnxRuntimeBackend', 'onnxruntime'),
}

__all__ = ['Backend', 'backend_names', 'create_backend', 'is_available']


def backend_names() -> List[str]:
    """Every registered backend name, installed or not."""
    return list(_REGISTRY)


def is_available(name: str) -> bool:
    """Whether the runtime library behind ``name`` can be imported here."""
    if name not in _REGISTRY:
        return False
    return importlib.util.find_spec(_REGISTRY[name][2]) is not None


def create_backend(name: str, model_path: Union[str, Path], **options) -> Backend:
    """
    Load ``model_path`` on the backend called ``name``.

    :raises BackendError: unknown name, or its runtime library is not installed.
    :raises ModelLoadError: the file is missing or the runtime cannot read it.
    """
    if name not in _REGISTRY:
        raise BackendError(f'unknown backend {name!r}; choose one of: '
                           f'{", ".join(_REGISTRY)}')
    module_name, class_name, package = _REGISTRY[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise BackendError(f'backend {name!r} needs the {package!r} package, which cannot be '
                           f'imported ({error}); install it with: pip install {package}') from None
    return getattr(module, class_name)(model_path, **options)
