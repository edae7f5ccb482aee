"""Evaluation: FID/KID on two backbones, GAN-train/GAN-test, classifier scores.

Metrics see tensors, nets and datasets only (no Lightning, no training loop).

* ``fid``: Fréchet distance, streaming feature statistics, KID.
* ``backbones``: feature extractors (evaluation classifier, Inception) registered by name.
* ``classifier``: the evaluation classifier: training, prediction, the on-disk reference cache.
* ``gan_train_test``: GAN-train, GAN-test, accuracy/confidence scores, augmentation gain.
* ``suite``: the metric registry and ``evaluate(names, EvalContext)``.
"""
