"""Model cards (Markdown) written from the numbers a training run measured."""

from pathlib import Path
from typing import Dict


def _table(rows, header) -> str:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


def _seeds(seeds) -> str:
    """Write a contiguous seed list as a range: 80 training runs are a line, not a paragraph."""
    seeds = list(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f'{seeds[0]}–{seeds[-1]} ({len(seeds)} runs)'
    return ', '.join(str(s) for s in seeds)


HEADER = ['variant', 'mAP@0.5 held-out layouts', 'mAP@0.5:0.95', 'mAP@0.5 unseen appearance',
          'mAP@0.5:0.95 unseen', 'file MB']


def write_detector_card(path: Path, summary: Dict) -> None:
    metrics = summary['metrics']
    rows = []
    for label in metrics['held_out_layouts']:
        layouts = metrics['held_out_layouts'][label]
        unseen = metrics['unseen_appearance'][label]
        rows.append([label, f'{layouts["map50"]:.3f}', f'{layouts["map50_95"]:.3f}',
                     f'{unseen["map50"]:.3f}', f'{unseen["map50_95"]:.3f}',
                     summary['files_mb'].get(_file_for(label, summary), '')])
    first = next(iter(metrics['held_out_layouts'].values()))
    per_class = _table([[name, f'{ap:.3f}'] for name, ap in first['per_class_ap50'].items()],
                       ['class', 'AP@0.5 (held-out layouts, first variant)'])
    protocol = summary['protocol']
    text = f"""# TinyDet — bundled detector

A single-stage, anchor-free detector (YOLOv8 output layout `[1, 4+nc, N]`, DFL boxes, IoU-aware
scores) trained by `ros2-infer train detector` on the package's TurtleBot3 simulation.

- Classes ({len(summary['classes'])}): {', '.join(summary['classes'])}
- Input: {summary['input']} (RGB, 0–1); parameters: {summary['parameters']:,};
  FLOPs per frame: {summary['flops_per_frame'] / 1e9:.3f} GFLOP
- Training data: simulator seeds {_seeds(summary['train_seeds'])} (domain-randomised, training
  appearance set); {summary['history'][-1]['epoch']} epochs, {summary['train_seconds']:.0f} s of
  training on this machine ({summary['total_seconds']:.0f} s end to end)
- Evaluation: seeds {_seeds(summary['eval_seeds'])} — layouts never trained on — once with the
  training appearance set and once with the held-out appearance set (unseen textures and
  lighting)
- Protocol: COCO (pycocotools), detections at conf ≥ {protocol['conf_threshold']}, NMS IoU
  {protocol['nms_iou']}; ground-truth boxes are occlusion-aware; boxes under
  {protocol['min_box_area_px']:.0f} px² or {protocol['min_box_side_px']:.0f} px a side (at
  640×480), and objects less than {protocol.get('min_visible_fraction', 0):.0%} visible (the rest
  hidden behind other objects, pillars or walls, or outside the image), are ignore regions:
  {first['objects']:,} objects counted and {first['ignored_objects']:,} ignored in
  {first['images']:,} held-out-layout images
- Licence: Apache-2.0 (the package's own); no external data or weights

## Accuracy

{_table(rows, HEADER)}

The torch FX int8 file for qnnpack is for ARM and is evaluated under aarch64 (docs/arm64.md).

{per_class}

Training curve: `tinydet_training.png`; every number above: `tinydet_metrics.json`.
"""
    Path(path).write_text(text)


def _file_for(label: str, summary: Dict) -> str:
    names = {'torchscript fp32': 'tinydet_ts.torchscript', 'onnxruntime fp32': 'tinydet.onnx',
             'onnxruntime int8 (qdq, x86)': 'tinydet_int8_x86.onnx',
             'onnxruntime int8 (qdq, arm)': 'tinydet_int8_arm.onnx'}
    return names.get(label, '')


def write_depth_card(path: Path, summary: Dict) -> None:
    rows = [[label, f'{m["abs_rel"]:.3f}', f'{m["delta1"]:.3f}', f'{m["rmse"]:.3f}']
            for label, m in summary['metrics'].items()]
    text = f"""# TinyDepth — bundled monocular depth

A compact encoder–decoder (U-Net style skips) predicting **metric z-depth** in metres (REP 118:
NaN where invalid) at half its input resolution, resized to the camera image. Trained by
`ros2-infer train depth` on the simulator's ground-truth depth.

- Input: {summary['input']}; output: {summary['output']}
- Parameters: {summary['parameters']:,}; FLOPs per frame:
  {summary['flops_per_frame'] / 1e9:.3f} GFLOP
- Training data: simulator seeds {_seeds(summary['train_seeds'])} (domain-randomised);
  {summary['history'][-1]['epoch']} epochs, {summary['train_seconds']:.0f} s of training
- Evaluation: held-out seeds {summary['eval_seeds']}, every frame, pixels with ground truth
  up to 10 m; the scale is the model's own metric output (no ground-truth median scaling)
- Licence: Apache-2.0 (the package's own)

## Accuracy

{_table(rows, ['variant', 'AbsRel', 'δ<1.25', 'RMSE (m)'])}

Training curve: `tinydepth_training.png`; every number: `tinydepth_metrics.json`.
"""
    Path(path).write_text(text)
