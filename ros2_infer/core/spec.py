"""
Model spec: the YAML sidecar that says how to feed a model and how to read its outputs.

Every model file ``NAME.onnx`` / ``NAME.torchscript`` has a ``NAME.yaml`` next to it. The spec is
declarative, so a user model (YOLOv8/YOLO11, YOLOv5, torchvision-style, MiDaS-style depth) loads
through the same code as the bundled ones. Loading validates every field and reports every
mistake in one :class:`SpecError`.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from ros2_infer.core.errors import SpecError
import yaml

SPEC_VERSION = 1
TASKS = ('detect', 'depth')
LAYOUTS = ('NCHW', 'NHWC')
COLORS = ('rgb', 'bgr', 'gray')
DTYPES = ('float32', 'float16', 'uint8')
RESIZE_MODES = ('letterbox', 'stretch')
PRECISIONS = ('fp32', 'fp16', 'int8')
DETECT_FORMATS = ('yolov8', 'yolov5', 'torchvision')
DEPTH_FORMATS = ('inverse_relative', 'metric')
QUANT_FORMATS = ('qdq', 'fx')
QUANT_ENGINES = ('x86', 'fbgemm', 'qnnpack', 'onednn', 'arm', 'any')
MODEL_SUFFIXES = {
    '.onnx': 'onnxruntime',
    '.torchscript': 'torchscript',
    '.pt': 'torchscript',
    '.pth': 'torchscript',
    '.ts': 'torchscript',
}


@dataclass(frozen=True)
class InputSpec:
    """How an image becomes the model's input tensor."""

    width: int
    height: int
    name: Optional[str] = None
    layout: str = 'NCHW'
    color: str = 'rgb'
    dtype: str = 'float32'
    mean: Tuple[float, ...] = (0.0, 0.0, 0.0)
    std: Tuple[float, ...] = (255.0, 255.0, 255.0)
    resize: str = 'letterbox'
    pad_value: int = 114

    @property
    def channels(self) -> int:
        return 1 if self.color == 'gray' else 3

    def shape(self) -> Tuple[int, int, int, int]:
        """Return the batch-1 tensor shape in this spec's layout."""
        if self.layout == 'NCHW':
            return (1, self.channels, self.height, self.width)
        return (1, self.height, self.width, self.channels)


@dataclass(frozen=True)
class OutputSpec:
    """How to read the model's raw outputs."""

    format: str  # noqa: A003 (mirrors the YAML key)
    names: Tuple[str, ...] = ()
    # yolov8/yolov5: whether boxes are in input pixels or normalised to 0..1 by the input size.
    normalized_boxes: bool = False
    # depth: valid range in metres; values outside become NaN (REP 118).
    min_depth: float = 0.05
    max_depth: float = 20.0


@dataclass(frozen=True)
class Quantization:
    """How an int8 variant was made; the engine must be active when a torch int8 file runs."""

    format: str  # noqa: A003 (mirrors the YAML key)
    engine: str = 'any'
    activation_type: str = 'uint8'
    weight_type: str = 'int8'
    calibration: str = ''


@dataclass(frozen=True)
class ModelSpec:
    """A validated model spec with the model file path resolved next to the YAML."""

    name: str
    task: str
    model_path: Path
    input: InputSpec  # noqa: A003 (mirrors the YAML key)
    output: OutputSpec
    class_names: Tuple[str, ...] = ()
    precision: str = 'fp32'
    quantization: Optional[Quantization] = None
    source: Dict[str, Any] = field(default_factory=dict)
    spec_path: Optional[Path] = None

    @property
    def default_backend(self) -> str:
        return MODEL_SUFFIXES.get(self.model_path.suffix.lower(), 'onnxruntime')

    def variant_label(self) -> str:
        """Short label such as ``onnxruntime int8 (qdq, x86)`` for tables and logs."""
        label = f'{self.default_backend} {self.precision}'
        if self.quantization is not None:
            label += f' ({self.quantization.format}, {self.quantization.engine})'
        return label

    def to_dict(self) -> Dict[str, Any]:
        """Return the YAML form, with the model path relative to the spec's folder."""
        spec_dir = self.spec_path.parent if self.spec_path else self.model_path.parent
        try:
            model = str(self.model_path.relative_to(spec_dir))
        except ValueError:
            model = str(self.model_path)
        data: Dict[str, Any] = {
            'spec_version': SPEC_VERSION,
            'name': self.name,
            'task': self.task,
            'model': model,
            'precision': self.precision,
            'input': {
                'name': self.input.name,
                'width': self.input.width,
                'height': self.input.height,
                'layout': self.input.layout,
                'color': self.input.color,
                'dtype': self.input.dtype,
                'mean': list(self.input.mean),
                'std': list(self.input.std),
                'resize': self.input.resize,
                'pad_value': self.input.pad_value,
            },
            'output': {
                'format': self.output.format,
                'names': list(self.output.names),
                'normalized_boxes': self.output.normalized_boxes,
                'min_depth': self.output.min_depth,
                'max_depth': self.output.max_depth,
            },
            'classes': list(self.class_names),
            'source': dict(self.source),
        }
        if self.quantization is not None:
            data['quantization'] = {
                'format': self.quantization.format,
                'engine': self.quantization.engine,
                'activation_type': self.quantization.activation_type,
                'weight_type': self.quantization.weight_type,
                'calibration': self.quantization.calibration,
            }
        return data

    def save(self, spec_path: Optional[Union[str, Path]] = None) -> Path:
        """Write the spec as YAML (default: next to the model, same stem) and return its path."""
        path = Path(spec_path) if spec_path else sidecar_path(self.model_path)
        spec = replace(self, spec_path=path)
        path.write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))
        return path


def sidecar_path(model_path: Union[str, Path]) -> Path:
    """Return the spec path that belongs next to a model file."""
    model_path = Path(model_path)
    return model_path.with_suffix('.yaml')


class _Checker:
    """Collects every mistake in a spec so the user fixes them all in one go."""

    def __init__(self, where: str):
        self.where = where
        self.problems: List[str] = []

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def choice(self, data: Dict[str, Any], key: str, choices, default=None, prefix=''):
        value = data.get(key, default)
        if value is None:
            self.fail(f'{prefix}{key}: missing (one of {", ".join(choices)})')
        elif value not in choices:
            self.fail(f'{prefix}{key}: {value!r} is not one of {", ".join(choices)}')
        return value

    def positive_int(self, data: Dict[str, Any], key: str, prefix=''):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.fail(f'{prefix}{key}: must be a positive integer, got {value!r}')
            return 1
        return value

    def numbers(self, data: Dict[str, Any], key: str, default, count: int, prefix=''):
        value = data.get(key, default)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value] * count
        if (not isinstance(value, (list, tuple)) or len(value) != count
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                           for v in value)):
            self.fail(f'{prefix}{key}: must be a number or a list of {count} numbers, '
                      f'got {value!r}')
            return tuple([1.0] * count)
        return tuple(float(v) for v in value)

    def raise_if_any(self) -> None:
        if self.problems:
            lines = '\n  - '.join(self.problems)
            raise SpecError(f'invalid model spec {self.where}:\n  - {lines}')


def spec_from_dict(data: Any, *, base_dir: Union[str, Path] = '.',
                   where: str = '<dict>') -> ModelSpec:
    """Validate a parsed spec mapping and resolve its model path against ``base_dir``."""
    check = _Checker(where)
    if not isinstance(data, dict):
        raise SpecError(f'invalid model spec {where}: expected a mapping, got '
                        f'{type(data).__name__}')
    version = data.get('spec_version', SPEC_VERSION)
    if version != SPEC_VERSION:
        check.fail(f'spec_version: {version!r} is not supported (this is version '
                   f'{SPEC_VERSION})')
    task = check.choice(data, 'task', TASKS)
    name = data.get('name')
    model = data.get('model')
    model_path = Path(base_dir)
    if not isinstance(model, str) or not model:
        check.fail('model: missing (path of the model file, relative to the spec)')
    else:
        model_path = (Path(base_dir) / model).resolve()
        if model_path.suffix.lower() not in MODEL_SUFFIXES:
            check.fail(f'model: unknown file type {model_path.suffix!r} (expected one of '
                       f'{", ".join(MODEL_SUFFIXES)})')
    if not isinstance(name, str) or not name:
        name = model_path.stem
    precision = check.choice(data, 'precision', PRECISIONS, default='fp32')

    raw_input = data.get('input')
    if not isinstance(raw_input, dict):
        check.fail('input: missing (width, height, layout, color, ...)')
        raw_input = {}
    input_spec = InputSpec(
        width=check.positive_int(raw_input, 'width', 'input.'),
        height=check.positive_int(raw_input, 'height', 'input.'),
        name=raw_input.get('name'),
        layout=check.choice(raw_input, 'layout', LAYOUTS, 'NCHW', 'input.'),
        color=check.choice(raw_input, 'color', COLORS, 'rgb', 'input.'),
        dtype=check.choice(raw_input, 'dtype', DTYPES, 'float32', 'input.'),
        mean=(), std=(),
        resize=check.choice(raw_input, 'resize', RESIZE_MODES, 'letterbox', 'input.'),
        pad_value=raw_input.get('pad_value', 114),
    )
    channels = input_spec.channels if input_spec.color in COLORS else 3
    mean = check.numbers(raw_input, 'mean', 0.0, channels, 'input.')
    std = check.numbers(raw_input, 'std', 255.0, channels, 'input.')
    if any(s == 0 for s in std):
        check.fail('input.std: must not contain 0')
    pad = input_spec.pad_value
    if isinstance(pad, bool) or not isinstance(pad, int) or not 0 <= pad <= 255:
        check.fail(f'input.pad_value: must be an integer 0..255, got {pad!r}')
    input_spec = replace(input_spec, mean=mean, std=std)

    raw_output = data.get('output')
    if not isinstance(raw_output, dict):
        check.fail('output: missing (format, names)')
        raw_output = {}
    formats = DETECT_FORMATS if task == 'detect' else DEPTH_FORMATS
    out_format = check.choice(raw_output, 'format', formats, prefix='output.')
    names = raw_output.get('names') or []
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        check.fail(f'output.names: must be a list of tensor names, got {names!r}')
        names = []
    min_depth = raw_output.get('min_depth', 0.05)
    max_depth = raw_output.get('max_depth', 20.0)
    if not (isinstance(min_depth, (int, float)) and isinstance(max_depth, (int, float))
            and 0 <= min_depth < max_depth):
        check.fail(f'output.min_depth/max_depth: need 0 <= min < max, got '
                   f'{min_depth!r}, {max_depth!r}')
        min_depth, max_depth = 0.05, 20.0
    output_spec = OutputSpec(format=out_format, names=tuple(names),
                             normalized_boxes=bool(raw_output.get('normalized_boxes', False)),
                             min_depth=float(min_depth), max_depth=float(max_depth))

    classes = data.get('classes') or []
    if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
        check.fail(f'classes: must be a list of class names, got {classes!r}')
        classes = []
    if task == 'detect' and not classes:
        check.fail('classes: a detection model needs its class names')
    if len(set(classes)) != len(classes):
        check.fail('classes: names must be unique')

    quantization = None
    raw_quant = data.get('quantization')
    if raw_quant is not None:
        if not isinstance(raw_quant, dict):
            check.fail('quantization: must be a mapping (format, engine)')
        else:
            quantization = Quantization(
                format=check.choice(raw_quant, 'format', QUANT_FORMATS,
                                    prefix='quantization.'),
                engine=check.choice(raw_quant, 'engine', QUANT_ENGINES, 'any',
                                    'quantization.'),
                activation_type=str(raw_quant.get('activation_type', 'uint8')),
                weight_type=str(raw_quant.get('weight_type', 'int8')),
                calibration=str(raw_quant.get('calibration', '')))
    if precision == 'int8' and quantization is None:
        check.fail('quantization: an int8 model must say how it was quantized '
                   '(format: qdq|fx, engine)')
    source = data.get('source') or {}
    if not isinstance(source, dict):
        check.fail('source: must be a mapping (where the model came from)')
        source = {}
    known = {'spec_version', 'name', 'task', 'model', 'precision', 'input', 'output',
             'classes', 'quantization', 'source'}
    for key in sorted(set(data) - known):
        check.fail(f'{key}: unknown field (known: {", ".join(sorted(known))})')
    check.raise_if_any()
    return ModelSpec(name=name, task=task, model_path=model_path, input=input_spec,
                     output=output_spec, class_names=tuple(classes), precision=precision,
                     quantization=quantization, source=dict(source))


def load_spec(path: Union[str, Path]) -> ModelSpec:
    """
    Load a spec from its YAML file, or from a model file that has a YAML sidecar.

    :raises SpecError: the file is missing, not YAML, or any field is wrong.
    """
    path = Path(path)
    if path.suffix.lower() in MODEL_SUFFIXES:
        path = sidecar_path(path)
    if not path.is_file():
        raise SpecError(f'model spec not found: {path} (every model needs a YAML sidecar '
                        f'with the same name)')
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise SpecError(f'model spec {path} is not valid YAML: {error}') from None
    spec = spec_from_dict(data, base_dir=path.parent, where=str(path))
    return replace(spec, spec_path=path.resolve())
