"""The evaluation classifier: an independent judge of generated images (GAN-test, GAN-train,
classifier-feature FID). A small VGG-style CNN: fast on CPU at 32 px, ~98% on digits."""

from __future__ import annotations

from torch import Tensor, nn


def _stage(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]


def input_pool(image_size: int, max_input: int) -> int:
    """The integer average-pooling factor that brings ``image_size`` to at most ``max_input`` (1: none; 0 = never)."""
    return -(-image_size // max_input) if 0 < max_input < image_size else 1


class EvalClassifier(nn.Module):
    """``features(x)``: (N, feature_dim) penultimate activations; ``forward(x)``: logits = fc(features).

    ``max_input``: images larger than this are first average-pooled by an integer factor to at most this
    size (0 = never): at 128 px the three full-resolution stages cost 4x more than at 64 px, while a class
    judge needs little of the extra detail (measured in docs/performance.md)."""

    def __init__(self, channels: int, num_classes: int, image_size: int, width: int = 32, feature_dim: int = 128,
                 dropout: float = 0.3, max_input: int = 0):
        super().__init__()
        factor = input_pool(image_size, max_input)
        n_stages = 3 if image_size // factor >= 16 else 2
        layers, dim = [nn.AvgPool2d(factor)] if factor > 1 else [], channels
        for i in range(n_stages):
            layers += _stage(dim, width * 2 ** i)
            dim = width * 2 ** i
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.proj = nn.Sequential(nn.Linear(dim, feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.proj(self.body(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.features(x)))
