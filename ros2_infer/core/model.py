"""A model = a validated spec + a loaded backend whose real input matches the spec."""

import logging
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np

from ros2_infer.core.backends import create_backend
from ros2_infer.core.backends.base import Backend
from ros2_infer.core.errors import ModelLoadError, SpecError
from ros2_infer.core.spec import load_spec, ModelSpec

logger = logging.getLogger('ros2_infer.model')
_DTYPES = {'float32': np.float32, 'float16': np.float16, 'uint8': np.uint8}


class Model:
    """Runs the spec's input tensor through the backend and names the outputs."""

    def __init__(self, spec: ModelSpec, backend: Backend):
        self.spec = spec
        self.backend = backend
        self.input_name = backend.input_names[0]

    def run(self, tensor: np.ndarray) -> Dict[str, np.ndarray]:
        return self.backend.run({self.input_name: tensor})

    def dummy_input(self) -> np.ndarray:
        spec = self.spec.input
        value = spec.pad_value if spec.dtype == 'uint8' else 0.5
        return np.full(spec.shape(), value, dtype=_DTYPES[spec.dtype])

    def warmup(self, runs: int = 2) -> None:
        """Run a few frames so the first real frame does not pay for lazy initialisation."""
        tensor = self.dummy_input()
        for _ in range(runs):
            self.run(tensor)

    def close(self) -> None:
        self.backend.close()


def check_input_shape(spec: ModelSpec, backend: Backend) -> None:
    """Compare the spec's input size/layout with what the model file declares."""
    shapes = backend.input_shapes
    if len(backend.input_names) != 1:
        raise SpecError(f'{spec.model_path.name}: the model has {len(backend.input_names)} '
                        f'inputs {backend.input_names}; image models take exactly one')
    declared = shapes[0]
    if declared is None:
        return
    expected = spec.input.shape()
    if len(declared) != len(expected):
        raise SpecError(f'{spec.model_path.name}: the model input has rank {len(declared)} '
                        f'{declared}, the spec says {spec.input.layout} {expected}')
    for axis, (have, want) in enumerate(zip(declared, expected)):
        if have is not None and have != want:
            raise SpecError(
                f'{spec.model_path.name}: the spec says input {spec.input.layout} {expected} '
                f'({spec.input.width}x{spec.input.height}, {spec.input.channels} channels) but '
                f'the model file declares {tuple("?" if d is None else d for d in declared)} '
                f'(axis {axis}: {have} != {want}); fix input.width/height/layout in '
                f'{spec.spec_path or "the spec"}')


def load_model(spec_or_path: Union[str, Path, ModelSpec], *, backend: Optional[str] = None,
               device: str = 'cpu', threads: Optional[int] = None, half: bool = False,
               warmup_runs: int = 2) -> Model:
    """
    Load a model from its spec (or from a model file with a sidecar spec).

    The backend defaults to the one the file type implies. The spec is checked against the
    model's real input, then a trial run checks it end to end and warms the backend up.
    """
    spec = spec_or_path if isinstance(spec_or_path, ModelSpec) else load_spec(spec_or_path)
    backend_name = backend or spec.default_backend
    options = {'device': device, 'threads': threads, 'half': half,
               'output_names': spec.output.names}
    if backend_name == 'torchscript':
        options['quantized_engine'] = (spec.quantization.engine if spec.quantization
                                       else 'any')
        options['input_names'] = (spec.input.name or 'images',)
    loaded = create_backend(backend_name, spec.model_path, **options)
    check_input_shape(spec, loaded)
    model = Model(spec, loaded)
    try:
        model.warmup(max(1, warmup_runs))
    except SpecError:
        raise
    except Exception as error:  # the trial run is where a wrong spec shows up for TorchScript
        message = str(error).strip().splitlines()
        raise ModelLoadError(
            f"{spec.model_path.name}: a trial run with the spec's input "
            f'{spec.input.layout} {spec.input.shape()} {spec.input.dtype} failed on '
            f'{backend_name}: {message[-1][:300] if message else type(error).__name__}'
        ) from None
    logger.info('loaded %s (%s) on %s', spec.name, spec.variant_label(), loaded.describe())
    return model
