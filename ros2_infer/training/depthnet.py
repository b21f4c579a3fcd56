"""
TinyDepth: a compact encoder-decoder predicting metric z-depth at half its input resolution.

Metric (not relative) because the camera is fixed on the robot and the floor plane gives scale:
the node then needs no lidar fit, and the lidar only checks the prediction. The output is
``exp`` of a clamped log-depth, so it is positive and spans 0.05-20 m with even precision.
"""

import math
from typing import List

from ros2_infer.training.tinydet import conv_bn_relu
import torch
from torch import nn
import torch.nn.functional as functional


class UpBlock(nn.Module):
    """Upsample x2, concatenate the skip connection, fuse with a 3x3 convolution."""

    def __init__(self, c_in: int, c_skip: int, c_out: int):
        super().__init__()
        self.fuse = conv_bn_relu(c_in + c_skip, c_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = functional.interpolate(x, size=skip.shape[-2:], mode='nearest')
        return self.fuse(torch.cat([x, skip], dim=1))


class DepthEncoderDecoder(nn.Module):
    """The quantizable part: everything but the final log-depth projection."""

    def __init__(self, widths=(16, 32, 48, 64, 96)):
        super().__init__()
        w = list(widths)
        self.enc1 = conv_bn_relu(3, w[0], stride=2)                                   # 1/2
        self.enc2 = nn.Sequential(conv_bn_relu(w[0], w[1], stride=2),
                                  conv_bn_relu(w[1], w[1]))                           # 1/4
        self.enc3 = nn.Sequential(conv_bn_relu(w[1], w[2], stride=2),
                                  conv_bn_relu(w[2], w[2]))                           # 1/8
        self.enc4 = nn.Sequential(conv_bn_relu(w[2], w[3], stride=2),
                                  conv_bn_relu(w[3], w[3]))                           # 1/16
        self.enc5 = nn.Sequential(conv_bn_relu(w[3], w[4], stride=2),
                                  conv_bn_relu(w[4], w[4]))                           # 1/32
        self.up4 = UpBlock(w[4], w[3], w[3])
        self.up3 = UpBlock(w[3], w[2], w[2])
        self.up2 = UpBlock(w[2], w[1], w[1])
        self.up1 = UpBlock(w[1], w[0], w[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        e5 = self.enc5(e4)
        return self.up1(self.up2(self.up3(self.up4(e5, e4), e3), e2), e1)


class TinyDepth(nn.Module):
    """Metric depth, output ``[1, 1, H/2, W/2]`` in metres."""

    def __init__(self, min_depth: float = 0.05, max_depth: float = 20.0):
        super().__init__()
        self.features = DepthEncoderDecoder()
        self.head = nn.Conv2d(16, 1, 3, padding=1)
        self.log_min = math.log(min_depth)
        self.log_max = math.log(max_depth)
        nn.init.constant_(self.head.bias, math.log(1.5))

    def forward_log(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).clamp(self.log_min, self.log_max)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.forward_log(x))

    def quantizable_modules(self) -> List[str]:
        return ['features']
