"""PyTorch models in the layouts `ddbench attack --layout pytorch` reads, with their logits on
fixed inputs, for tests/external.rs.

Usage: python external_models.py OUT
Writes OUT/convnet.safetensors: the state_dict of the official DatasetCondensation ConvNet
(networks.py: depth x [Conv2d 3x3 (padding 3 for a 1-channel first layer, else 1), GroupNorm(w, w,
affine), ReLU, AvgPool2d(2, 2)], then Linear), width 16, depth 3, on 1x28x28 images, 10 classes;
OUT/resnet.safetensors: torchvision's ResNet-18 with the CIFAR stem (3x3 stride-1 conv1, no
max-pool; 10 classes) behind a normalisation layer as GUARD wraps it (nn.Sequential(normalize,
model): keys 0.mean, 0.std, 1.conv1.weight, ...), its BatchNorm statistics set by a few training
passes; OUT/io.safetensors: inputs x_conv [6, 1, 28, 28], x_res [4, 3, 32, 32] in [0, 1] and the
eval-mode logits of both models (the ConvNet fed (x - 0.2861) / 0.3530, as DC normalises data).
"""
import sys

import torch
import torch.nn as nn
import torchvision
from safetensors.torch import save_file

MEAN_FM, STD_FM = 0.2861, 0.3530
MEAN_C10, STD_C10 = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def convnet(channel=1, width=16, depth=3, classes=10, im=28):
    layers, c, side = [], channel, im
    for d in range(depth):
        layers += [nn.Conv2d(c, width, 3, padding=3 if channel == 1 and d == 0 else 1),
                   nn.GroupNorm(width, width, affine=True), nn.ReLU(inplace=True),
                   nn.AvgPool2d(2, 2)]
        if channel == 1 and d == 0:
            side += 4
        c, side = width, side // 2
    net = nn.Module()
    net.features = nn.Sequential(*layers)
    net.classifier = nn.Linear(width * side * side, classes)
    net.forward = lambda x: net.classifier(net.features(x).flatten(1))
    return net


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def main(out):
    torch.manual_seed(0)
    torch.set_num_threads(2)
    conv = convnet()
    with torch.no_grad():
        for m in conv.modules():
            if isinstance(m, nn.GroupNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    res = torchvision.models.resnet18(num_classes=10)
    res.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    res.maxpool = nn.Identity()
    wrapped = nn.Sequential(Normalize(MEAN_C10, STD_C10), res)
    wrapped.train()
    with torch.no_grad():
        for _ in range(3):
            wrapped(torch.rand(16, 3, 32, 32))
    wrapped.eval()
    conv.eval()
    x_conv, x_res = torch.rand(6, 1, 28, 28), torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        l_conv = conv.forward((x_conv - MEAN_FM) / STD_FM)
        l_res = wrapped(x_res)
    save_file({k: v.contiguous() for k, v in conv.state_dict().items()}, f"{out}/convnet.safetensors")
    save_file({k: v.contiguous() for k, v in wrapped.state_dict().items()}, f"{out}/resnet.safetensors")
    save_file({"x_conv": x_conv, "x_res": x_res, "logits_conv": l_conv, "logits_res": l_res},
              f"{out}/io.safetensors")


if __name__ == "__main__":
    main(sys.argv[1])
