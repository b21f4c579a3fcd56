"""
TinyDet: a small single-stage, anchor-free detector whose export matches YOLOv8's output.

Backbone of plain 3x3 convolutions with ReLU (int8 kernels fuse Conv+ReLU; SiLU would stay in
float), an FPN neck over strides 8/16/32 and a decoupled head with distribution focal loss
(DFL) box bins. ``forward`` returns the decoded ``[1, 4 + nc, N]`` tensor that YOLOv8/YOLO11
exports give (cx, cy, w, h in input pixels, sigmoid class scores), so one decoder serves both;
``forward_raw`` gives the per-level logits that training needs.
"""

from typing import List, Sequence, Tuple

import torch
from torch import nn
import torch.nn.functional as functional

STRIDES = (8, 16, 32)


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = conv_bn_relu(channels, channels)
        self.conv2 = conv_bn_relu(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class Head(nn.Module):
    """A shared 3x3 convolution, then box (DFL bins) and class predictions for one level."""

    def __init__(self, channels: int, num_classes: int, reg_max: int):
        super().__init__()
        self.stem = conv_bn_relu(channels, channels)
        self.box = nn.Conv2d(channels, 4 * reg_max, 1)
        self.cls = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(x)
        return self.box(x), self.cls(x)


class FeaturePyramid(nn.Module):
    """Backbone + FPN neck: the part that int8 quantization covers."""

    def __init__(self, widths: Sequence[int], neck_width: int):
        super().__init__()
        w = list(widths)
        self.stem = conv_bn_relu(3, w[0], stride=2)
        self.stage2 = conv_bn_relu(w[0], w[1], stride=2)
        self.stage3 = nn.Sequential(conv_bn_relu(w[1], w[2], stride=2), ResidualBlock(w[2]))
        self.stage4 = nn.Sequential(conv_bn_relu(w[2], w[3], stride=2), ResidualBlock(w[3]))
        self.stage5 = nn.Sequential(conv_bn_relu(w[3], w[4], stride=2), ResidualBlock(w[4]))
        self.lateral = nn.ModuleList([conv_bn_relu(c, neck_width, 1) for c in w[2:]])
        self.smooth = nn.ModuleList([conv_bn_relu(neck_width, neck_width) for _ in STRIDES])

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        c3 = self.stage3(self.stage2(self.stem(x)))
        c4 = self.stage4(c3)
        c5 = self.stage5(c4)
        p5 = self.lateral[2](c5)
        p4 = self.lateral[1](c4) + functional.interpolate(p5, size=c4.shape[-2:],
                                                          mode='nearest')
        p3 = self.lateral[0](c3) + functional.interpolate(p4, size=c3.shape[-2:],
                                                          mode='nearest')
        return [self.smooth[i](p) for i, p in enumerate((p3, p4, p5))]


class TinyDet(nn.Module):
    """A YOLOv8-layout detector well under 2 M parameters."""

    def __init__(self, num_classes: int, widths: Sequence[int] = (16, 32, 64, 96, 128),
                 neck_width: int = 48, reg_max: int = 8, prior_prob: float = 0.01):
        super().__init__()
        self.num_classes = num_classes
        self.reg_max = reg_max
        self.backbone = FeaturePyramid(widths, neck_width)
        self.heads = nn.ModuleList([Head(neck_width, num_classes, reg_max) for _ in STRIDES])
        bias = -torch.log(torch.tensor((1 - prior_prob) / prior_prob))
        for head in self.heads:
            nn.init.constant_(head.cls.bias, float(bias))
        self.register_buffer('bins', torch.arange(reg_max, dtype=torch.float32),
                             persistent=False)

    def forward_raw(self, x: torch.Tensor) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """Per level (stride 8, 16, 32): (box logits [B, 4*reg_max, H, W], class logits)."""
        return [head(f) for head, f in zip(self.heads, self.backbone(x))]

    def decode_distances(self, box_logits: torch.Tensor) -> torch.Tensor:
        """DFL: expected bin per side -> [B, 4, H*W] distances in stride units."""
        batch, _, height, width = box_logits.shape
        probs = box_logits.view(batch, 4, self.reg_max, height * width).softmax(dim=2)
        return (probs * self.bins.view(1, 1, -1, 1)).sum(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = []
        for (box_logits, cls_logits), stride in zip(self.forward_raw(x), STRIDES):
            batch, _, height, width = cls_logits.shape
            distances = self.decode_distances(box_logits) * stride
            ys = (torch.arange(height, device=x.device, dtype=x.dtype) + 0.5) * stride
            xs = (torch.arange(width, device=x.device, dtype=x.dtype) + 0.5) * stride
            grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')
            cx = grid_x.reshape(1, -1) + (distances[:, 2] - distances[:, 0]) * 0.5
            cy = grid_y.reshape(1, -1) + (distances[:, 3] - distances[:, 1]) * 0.5
            w = distances[:, 0] + distances[:, 2]
            h = distances[:, 1] + distances[:, 3]
            scores = cls_logits.sigmoid().view(batch, self.num_classes, height * width)
            outputs.append(torch.cat([torch.stack([cx, cy, w, h], dim=1), scores], dim=1))
        return torch.cat(outputs, dim=2)

    def quantizable_modules(self) -> List[str]:
        """List the modules int8 covers: backbone, neck and each head's shared convolution."""
        return ['backbone'] + [f'heads.{i}.stem' for i in range(len(self.heads))]


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
