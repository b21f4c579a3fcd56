"""
``ros2-infer export``: PyTorch module -> TorchScript, ONNX and int8, each with its spec.

The module comes from a factory (``package.module:function``, or ``builtin:tinydet``) plus an
optional state dict; the spec template (YAML, the ``model`` field may be left out) gives task,
input, output format and classes. int8 variants are calibrated on a folder of images
preprocessed exactly as inference will.
"""

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--module', required=True,
                        help="factory returning a torch.nn.Module: 'package.module:function' "
                             "or 'builtin:tinydet'")
    parser.add_argument('--weights', type=Path, help='state dict to load (torch.save)')
    parser.add_argument('--spec', type=Path, required=True,
                        help='spec template YAML (task, input, output, classes)')
    parser.add_argument('--name', help='file name stem (default: the template name)')
    parser.add_argument('--out', type=Path, required=True, help='output folder')
    parser.add_argument('--calibration', type=Path,
                        help='folder of images (png/jpg) for static int8 calibration')
    parser.add_argument('--calibration-count', type=int, default=64,
                        help='images used for calibration (default 64)')
    parser.add_argument('--variants', default='',
                        help='comma-separated subset of: torchscript, onnx, onnx-int8-x86, '
                             'onnx-int8-arm, torch-int8-x86, torch-int8-qnnpack (default: all '
                             'when --calibration is given, else fp32 only)')


def _load_module(factory: str, classes, weights):
    import importlib

    import torch

    from ros2_infer.core.errors import Ros2InferError

    if factory == 'builtin:tinydet':
        from ros2_infer.training.tinydet import TinyDet
        module = TinyDet(len(classes))
    else:
        if ':' not in factory:
            raise Ros2InferError(f"--module {factory!r}: expected 'package.module:function'")
        module_name, function = factory.split(':', 1)
        try:
            module = getattr(importlib.import_module(module_name), function)()
        except (ImportError, AttributeError) as error:
            raise Ros2InferError(f'--module {factory!r}: {error}') from None
    if not isinstance(module, torch.nn.Module):
        raise Ros2InferError(f'--module {factory!r} returned {type(module).__name__}, not a '
                             f'torch.nn.Module')
    if weights:
        try:
            state = torch.load(str(weights), map_location='cpu', weights_only=True)
            module.load_state_dict(state)
        except Exception as error:  # torch raises many types for bad files
            raise Ros2InferError(f'--weights {weights}: {str(error).splitlines()[0]}') from None
    return module.eval()


def _calibration_tensors(folder: Path, input_spec, count: int):
    import cv2

    from ros2_infer.core.errors import Ros2InferError
    from ros2_infer.training.generated import calibration_tensors

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in ('.png', '.jpg', '.jpeg'))
    if not files:
        raise Ros2InferError(f'--calibration {folder}: no png/jpg images')
    images = []
    for path in files[:count]:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise Ros2InferError(f'--calibration: cannot read {path}')
        images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return calibration_tensors(images, input_spec), f'{len(images)} images from {folder}'


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import yaml

    from ros2_infer.core.errors import Ros2InferError
    from ros2_infer.core.spec import spec_from_dict
    from ros2_infer.training.export import ALL_VARIANTS, export_variants

    if not args.spec.is_file():
        raise Ros2InferError(f'--spec {args.spec}: no such file')
    data = yaml.safe_load(args.spec.read_text()) or {}
    if not isinstance(data, dict):
        raise Ros2InferError(f'--spec {args.spec}: expected a mapping')
    name = args.name or data.get('name') or args.spec.stem
    data = dict(data, name=name)
    data.setdefault('model', f'{name}.onnx')
    template = spec_from_dict(data, base_dir=args.out, where=str(args.spec))
    if args.variants:
        variants = [v.strip() for v in args.variants.split(',') if v.strip()]
    else:
        variants = list(ALL_VARIANTS) if args.calibration else ['torchscript', 'onnx']
    calibration, note = [], ''
    if any('int8' in v for v in variants):
        if not args.calibration:
            raise Ros2InferError('int8 variants need --calibration IMAGES_FOLDER')
        calibration, note = _calibration_tensors(args.calibration, template.input,
                                                 args.calibration_count)
    module = _load_module(args.module, template.class_names, args.weights)
    quantizable = getattr(module, 'quantizable_modules', None)
    specs = export_variants(module, replace(template, name=name), args.out,
                            calibration=calibration, variants=variants,
                            quantizable_modules=quantizable() if quantizable else None,
                            calibration_note=note)
    for spec in specs:
        size = spec.model_path.stat().st_size / 1e6
        print(f'{spec.variant_label():34} {size:6.2f} MB  {spec.model_path}')
    return 0
