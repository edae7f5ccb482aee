"""Plain nn.Modules: generators, discriminators (returning embeddings), the evaluation classifier.
They know nothing of Lightning, losses or heads."""

from gan_lab.nets.blocks import count_parameters
from gan_lab.nets.classifier import EvalClassifier
from gan_lab.nets.conditional import ConditionalDiscriminator, ConditionalGenerator
from gan_lab.nets.stargan import StarGANDiscriminator, StarGANGenerator
from gan_lab.nets.unet import PatchDiscriminator, UNetGenerator

__all__ = ["StarGANGenerator", "StarGANDiscriminator", "ConditionalGenerator", "ConditionalDiscriminator",
           "EvalClassifier", "count_parameters", "UNetGenerator", "PatchDiscriminator"]
