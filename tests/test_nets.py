"""Plain nets: shapes, conditioning, size checks, memory formats. No Lightning involved."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gan_lab.nets import (ConditionalDiscriminator, ConditionalGenerator, EvalClassifier, StarGANDiscriminator,
                          StarGANGenerator, count_parameters)
from gan_lab.registry import ConfigError


def one_hot(labels, n):
    return F.one_hot(torch.as_tensor(labels), n).float()


@pytest.mark.parametrize("size,channels", [(16, 1), (32, 3), (48, 3)])
def test_stargan_generator_keeps_shape_and_range(size, channels):
    torch.manual_seed(0)
    g = StarGANGenerator(channels, 5, conv_dim=8, n_down=2, n_res=1)
    x = torch.rand(3, channels, size, size) * 2 - 1
    y = g(x, one_hot([0, 1, 4], 5))
    assert y.shape == x.shape
    assert y.abs().max() <= 1.0


def test_stargan_generator_output_depends_on_target_label():
    torch.manual_seed(0)
    g = StarGANGenerator(1, 4, conv_dim=8, n_down=1, n_res=1).eval()
    x = torch.rand(2, 1, 16, 16)
    a, b = g(x, one_hot([0, 0], 4)), g(x, one_hot([3, 3], 4))
    assert (a - b).abs().mean() > 1e-4
    torch.testing.assert_close(g(x, one_hot([0, 0], 4)), a)  # deterministic in eval mode


@pytest.mark.parametrize("size,n_layers,patch", [(32, 4, 2), (64, 4, 4), (128, 6, 2), (16, 3, 2)])
def test_stargan_discriminator_patch_and_embedding(size, n_layers, patch):
    d = StarGANDiscriminator(size, 3, conv_dim=4, n_layers=n_layers, embed_dim=12)
    src, emb = d(torch.randn(2, 3, size, size))
    assert src.shape == (2, 1, patch, patch)
    assert emb.shape == (2, 12)


@pytest.mark.parametrize("size,n_layers", [(40, 4), (8, 4), (30, 2)])
def test_stargan_discriminator_rejects_sizes_it_cannot_tile(size, n_layers):
    with pytest.raises(ConfigError, match=r"dataset.image_size=\d+ .*model.discriminator.n_layers"):
        StarGANDiscriminator(size, 3, conv_dim=4, n_layers=n_layers)


@pytest.mark.parametrize("size", [8, 16, 32, 64])
def test_conditional_generator_and_discriminator_shapes(size):
    torch.manual_seed(0)
    g = ConditionalGenerator(z_dim=16, num_classes=7, image_size=size, channels=3, width=8)
    d = ConditionalDiscriminator(size, 3, width=8, embed_dim=10)
    img = g(torch.randn(4, 16), torch.tensor([0, 1, 2, 6]))
    assert img.shape == (4, 3, size, size) and img.abs().max() <= 1
    adv, emb = d(img)
    assert adv.shape == (4, 1) and emb.shape == (4, 10)


def test_conditional_generator_uses_the_label():
    torch.manual_seed(0)
    g = ConditionalGenerator(z_dim=16, num_classes=3, image_size=8, channels=1, width=8).eval()
    z = torch.randn(2, 16)
    assert (g(z, torch.tensor([0, 0])) - g(z, torch.tensor([2, 2]))).abs().mean() > 1e-4


def test_conditional_nets_reject_unsupported_size():
    with pytest.raises(ConfigError, match="dataset.image_size=24 .*allowed"):
        ConditionalGenerator(16, 3, image_size=24, channels=3)


def test_eval_classifier_features_feed_the_logits():
    torch.manual_seed(0)
    clf = EvalClassifier(1, 10, 32, width=8, feature_dim=20).eval()
    x = torch.randn(5, 1, 32, 32)
    feats = clf.features(x)
    assert feats.shape == (5, 20) and (feats >= 0).all()  # post-ReLU features (FID backbone)
    torch.testing.assert_close(clf(x), clf.fc(feats))


def test_eval_classifier_max_input_pools_large_images_only():
    """eval.classifier.max_input: a 128 px input is average-pooled by 2 to 64 px before the first stage (the
    rest of the network is the 64 px one); at or below max_input the network is unchanged."""
    torch.manual_seed(0)
    big = EvalClassifier(3, 4, 128, width=4, feature_dim=8, max_input=64).eval()
    small = EvalClassifier(3, 4, 64, width=4, feature_dim=8).eval()
    assert isinstance(big.body[0], torch.nn.AvgPool2d) and big.body[0].kernel_size == 2
    shifted = {}  # big's body.i is small's body.(i-1): the same layers after the pooling
    for k, v in big.state_dict().items():
        part, *rest = k.split(".")
        shifted[".".join([part, str(int(rest[0]) - 1), *rest[1:]]) if part == "body" else k] = v
    small.load_state_dict(shifted)
    x = torch.rand(2, 3, 128, 128)
    torch.testing.assert_close(big.features(x), small.features(F.avg_pool2d(x, 2)))
    plain = EvalClassifier(3, 4, 64, width=4, feature_dim=8)
    assert [type(m) for m in EvalClassifier(3, 4, 64, width=4, feature_dim=8, max_input=64).body] == \
        [type(m) for m in plain.body]
    assert isinstance(EvalClassifier(3, 4, 96, width=4, max_input=64).body[0], torch.nn.AvgPool2d)  # ceil: 96 -> 48


def test_channels_last_gives_the_same_result():
    torch.manual_seed(0)
    g = StarGANGenerator(3, 4, conv_dim=8, n_down=2, n_res=1).eval()
    d = StarGANDiscriminator(32, 3, conv_dim=8, n_layers=4, embed_dim=8)
    x, c = torch.rand(2, 3, 32, 32), one_hot([1, 2], 4)
    ref_g, (ref_src, ref_emb) = g(x, c), d(x)
    g_cl, d_cl = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(g_cl(x_cl, c), ref_g, atol=1e-5, rtol=1e-4)
    src, emb = d_cl(x_cl)
    torch.testing.assert_close(src, ref_src, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(emb, ref_emb, atol=1e-5, rtol=1e-4)


def test_bf16_autocast_runs_and_stays_close():
    torch.manual_seed(0)
    g = StarGANGenerator(1, 3, conv_dim=8, n_down=1, n_res=1).eval()
    x, c = torch.rand(2, 1, 16, 16), one_hot([0, 2], 3)
    ref = g(x, c)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = g(x, c)
    assert torch.isfinite(out.float()).all()
    assert (out.float() - ref).abs().max() < 0.1


def test_count_parameters_counts_trainable_weights():
    d = StarGANDiscriminator(16, 1, conv_dim=4, n_layers=2, embed_dim=3)
    expected = sum(p.numel() for p in d.parameters())
    assert count_parameters(d) == expected > 0
