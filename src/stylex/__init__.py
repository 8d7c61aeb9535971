"""stylex: explain image classifiers with counterfactuals in StyleSpace.

A PyTorch implementation of StylEx and AttFind (Lang et al., ICCV 2021,
"Explaining in Style: Training a GAN to explain a classifier in StyleSpace").

Pipeline stages, one sub-package each:
    stylex.data       data sets (CelebA, class folders, CSV, unlabelled images, synthetic world)
    stylex.models     MobileNetV2 classifier, StyleGAN2 generator/encoder/discriminator, LPIPS
    stylex.training   classifier training, the StylEx training loop, checkpoints
    stylex.explain    AttFind, the Wu et al. baseline, metrics (flip rate, reconstruction, ground truth)
    stylex.report     figures, GIFs, the HTML report, the user-study kit
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy exports: `import stylex` stays cheap (no torch import) until the API is used.
    if name in ("load_run", "Run"):
        from . import trained_run

        return getattr(trained_run, name)
    if name in ("explain", "data", "models", "training", "report"):
        import importlib

        return importlib.import_module(f"stylex.{name}")
    raise AttributeError(f"module 'stylex' has no attribute {name!r}")
