"""
Training targets and loss for TinyDet (anchor-free, DFL boxes, IoU-aware class scores).

Assignment is FCOS-style centre sampling with per-level size ranges, so each object is learnt
at the pyramid level whose DFL range fits it; class targets are the IoU of the predicted box
(quality focal loss), so exported scores rank boxes by localisation quality as mAP rewards.
"""

from typing import Dict, List, Sequence, Tuple

from ros2_infer.training.tinydet import STRIDES, TinyDet
import torch
import torch.nn.functional as functional
from torchvision.ops import generalized_box_iou_loss

# Smallest object extent (max of left/top/right/bottom, pixels) each level learns.
LEVEL_LOWER_BOUNDS = (0.0, 40.0, 80.0)
CENTER_RADIUS = 2.5


def anchor_points(feature_sizes: Sequence[Tuple[int, int]], strides=STRIDES,
                  device='cpu') -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cell centres (A, 2) in input pixels, their stride (A,) and level index (A,)."""
    points, point_strides, levels = [], [], []
    for level, ((height, width), stride) in enumerate(zip(feature_sizes, strides)):
        ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) * stride
        xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) * stride
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')
        points.append(torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1))
        point_strides.append(torch.full((height * width,), float(stride), device=device))
        levels.append(torch.full((height * width,), level, device=device, dtype=torch.long))
    return torch.cat(points), torch.cat(point_strides), torch.cat(levels)


def assign(points: torch.Tensor, strides: torch.Tensor, levels: torch.Tensor,
           boxes: torch.Tensor, reg_max: int) -> torch.Tensor:
    """
    Index of the ground-truth box each anchor learns (-1 for background).

    Candidates lie inside the box, within ``CENTER_RADIUS`` strides of its centre, and at a level
    whose DFL range holds the box; an anchor claimed by several boxes takes the smallest. A box
    that no anchor claims gets the nearest anchor of the finest level that can hold it.
    """
    count = boxes.shape[0]
    assigned = torch.full((points.shape[0],), -1, dtype=torch.long, device=points.device)
    if count == 0:
        return assigned
    px, py = points[:, 0:1], points[:, 1:2]
    ltrb = torch.stack([px - boxes[:, 0], py - boxes[:, 1], boxes[:, 2] - px,
                        boxes[:, 3] - py], dim=2)  # (A, M, 4)
    extent = ltrb.max(dim=2).values
    centers = (boxes[:, :2] + boxes[:, 2:]) * 0.5
    near_center = ((points[:, None, :] - centers[None]).abs().max(dim=2).values
                   < CENTER_RADIUS * strides[:, None])
    lower = torch.tensor(LEVEL_LOWER_BOUNDS, device=points.device)[levels][:, None]
    fits = (extent <= (reg_max - 1) * strides[:, None]) & (extent > lower)
    candidate = (ltrb.min(dim=2).values > 0) & near_center & fits
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None].expand_as(extent)
    area = torch.where(candidate, area, torch.full_like(area, float('inf')))
    best_area, best = area.min(dim=1)
    assigned[torch.isfinite(best_area)] = best[torch.isfinite(best_area)]
    for index in range(count):
        if (assigned == index).any():
            continue
        size = float((boxes[index, 2:] - boxes[index, :2]).max()) * 0.5
        usable = ((reg_max - 1) * strides >= size) & (assigned == -1)
        if not usable.any():
            usable = assigned == -1
        distance = (points - centers[index]).pow(2).sum(dim=1)
        distance[~usable] = float('inf')
        assigned[int(distance.argmin())] = index
    return assigned


class DetectionLoss:
    """Quality focal loss on classes, GIoU + DFL on boxes; returns (total, parts)."""

    def __init__(self, model: TinyDet, box_weight: float = 2.0, dfl_weight: float = 0.5):
        self.model = model
        self.reg_max = model.reg_max
        self.num_classes = model.num_classes
        self.box_weight = box_weight
        self.dfl_weight = dfl_weight

    def __call__(self, raw: List[Tuple[torch.Tensor, torch.Tensor]],
                 targets: List[torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        batch = raw[0][0].shape[0]
        sizes = [tuple(cls.shape[-2:]) for _, cls in raw]
        points, strides, levels = anchor_points(sizes, device=raw[0][0].device)
        box_logits = torch.cat([b.view(batch, 4, self.reg_max, -1) for b, _ in raw], dim=3)
        box_logits = box_logits.permute(0, 3, 1, 2)  # (B, A, 4, reg_max)
        cls_logits = torch.cat([c.flatten(2) for _, c in raw], dim=2).permute(0, 2, 1)
        bins = torch.arange(self.reg_max, dtype=torch.float32, device=points.device)
        distances = (box_logits.softmax(dim=3) * bins).sum(dim=3) * strides[None, :, None]
        pred_boxes = torch.cat([points[None] - distances[..., :2],
                                points[None] + distances[..., 2:]], dim=2)
        cls_target = torch.zeros_like(cls_logits)
        cls_weight = torch.ones_like(cls_logits[..., :1])
        box_losses, dfl_losses, weights = [], [], []
        for image in range(batch):
            target = targets[image]
            if target.numel() == 0:
                continue
            classes, gt_boxes = target[:, 0].long(), target[:, 1:5]
            assigned = assign(points, strides, levels, gt_boxes, self.reg_max)
            if target.shape[1] > 5:  # don't-care boxes: their anchors learn nothing
                dont_care = target[:, 5] > 0.5
                cared = assigned >= 0
                cared[cared.clone()] = ~dont_care[assigned[cared]]
                cls_weight[image, (assigned >= 0) & ~cared] = 0.0
                assigned = torch.where(cared, assigned, torch.full_like(assigned, -1))
            positive = assigned >= 0
            gt = gt_boxes[assigned[positive]]
            pred = pred_boxes[image, positive]
            with torch.no_grad():
                iou = _paired_iou(pred, gt).clamp_min(0.05)
            cls_target[image, positive, classes[assigned[positive]]] = iou
            box_losses.append(generalized_box_iou_loss(pred, gt, reduction='none') * iou)
            anchor_stride = strides[positive][:, None]
            anchor_points_ = points[positive]
            ltrb = torch.cat([anchor_points_ - gt[:, :2], gt[:, 2:] - anchor_points_], dim=1)
            dfl_losses.append(_dfl(box_logits[image, positive],
                                   (ltrb / anchor_stride).clamp(0, self.reg_max - 1.01))
                              * iou)
            weights.append(iou)
        normaliser = torch.cat(weights).sum().clamp_min(1.0) if weights else torch.tensor(1.0)
        probability = cls_logits.sigmoid()
        cls_loss = (functional.binary_cross_entropy_with_logits(cls_logits, cls_target,
                                                                reduction='none')
                    * (cls_target - probability).abs().pow(2.0) * cls_weight).sum() / normaliser
        if box_losses:
            box_loss = torch.cat(box_losses).sum() / normaliser
            dfl_loss = torch.cat(dfl_losses).sum() / normaliser
        else:
            box_loss = dfl_loss = cls_logits.sum() * 0.0
        total = cls_loss + self.box_weight * box_loss + self.dfl_weight * dfl_loss
        return total, {'cls': float(cls_loss.detach()), 'box': float(box_loss.detach()),
                       'dfl': float(dfl_loss.detach())}


def _paired_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return the IoU of a[i] with b[i] (xyxy)."""
    top_left = torch.maximum(a[:, :2], b[:, :2])
    bottom_right = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (bottom_right - top_left).clamp_min(0).prod(dim=1)
    area_a = (a[:, 2:] - a[:, :2]).clamp_min(0).prod(dim=1)
    area_b = (b[:, 2:] - b[:, :2]).clamp_min(0).prod(dim=1)
    return inter / (area_a + area_b - inter).clamp_min(1e-9)


def _dfl(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distribution focal loss: cross-entropy to the two bins around each target distance."""
    left = target.floor().long()
    right = left + 1
    weight_left = right.float() - target
    weight_right = target - left.float()
    flat = logits.reshape(-1, logits.shape[-1])
    loss = (functional.cross_entropy(flat, left.reshape(-1), reduction='none')
            * weight_left.reshape(-1)
            + functional.cross_entropy(flat, right.reshape(-1), reduction='none')
            * weight_right.reshape(-1))
    return loss.view(-1, 4).mean(dim=1)
