"""A trained StylEx run, loaded for inference: the join point of the pipeline.

Everything after training (AttFind, baselines, metrics, figures, report, user study) takes a
:class:`Run`, so none of it depends on how the run was trained.

Example::

    import stylex
    run = stylex.load_run("runs/celeba-young")
    images = run.load_images(8)                  # [8, 3, H, W] in [-1, 1]
    latent = run.encode(images)                  # E(x) ++ softmax(C(x))
    styles = run.styles(latent)                  # StyleSpace coordinates (Styles.flat(): [8, S])
    recon = run.generate(styles)                 # reconstructions
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data import DataSpec, open_dataset
from .data.tensors import images_to_tensor
from .errors import StylexError
from .models.classifier import ClassifierAdapter, fold_batchnorm, freeze, load_classifier
from .models.generator import Generator, Styles, StyleLayout
from .models.networks import build_networks
from .training.checkpoint import CHECKPOINT_NAME, safe_load
from .training.config import RunConfig, TrainConfig, read_run_config


@dataclass
class Run:
    """A trained StylEx run: EMA generator, encoder, discriminator, classifier and configuration."""

    dir: Path
    config: RunConfig
    G: Generator
    E: torch.nn.Module
    D: torch.nn.Module
    classifier: ClassifierAdapter
    device: torch.device
    progress: bool = True  # progress bars while decoding a data split into the cache

    # ------------------------------------------------------------------ properties
    @property
    def layout(self) -> StyleLayout:
        """Flat StyleSpace index <-> (layer, channel, resolution)."""
        return self.G.layout

    @property
    def class_names(self) -> list[str]:
        """The classifier's class names, in output order."""
        return list(self.config.class_names)

    @property
    def num_classes(self) -> int:
        """K."""
        return len(self.config.class_names)

    @property
    def train_config(self) -> TrainConfig:
        """The run's training configuration (with its network configuration)."""
        return self.config.train

    @property
    def data_spec(self) -> DataSpec:
        """The data the run was trained on."""
        return self.config.data

    @property
    def resolution(self) -> int:
        """Image size of the networks."""
        return self.config.train.network.resolution

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Classifier logits ``[N, K]`` for images in [-1, 1]."""
        return self.classifier(images.to(self.device)).float()

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The synthesis latent of real images: ``E(x) ++ softmax(C(x))`` -> ``[N, w_dim + K]``."""
        images = images.to(self.device)
        probs = F.softmax(self.classify(images), dim=1)
        return self.G.condition(self.E(images), probs)

    @torch.no_grad()
    def sample_latents(self, n: int, seed: int = 0, class_probs: torch.Tensor | None = None) -> torch.Tensor:
        """Latents from the mapping path: ``mapping(z) ++ p``.

        Args:
            n: number of latents.
            seed: seed of z.
            class_probs: class vectors ``[n, K]``; default: one-hot classes in turn.
        """
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn([n, self.config.train.network.z_dim], generator=gen).to(self.device)
        if class_probs is None:
            class_probs = F.one_hot(torch.arange(n) % self.num_classes, self.num_classes).float()
        return self.G.condition(self.G.mapping(z), class_probs.to(self.device))

    @torch.no_grad()
    def styles(self, latent: torch.Tensor) -> Styles:
        """Per-layer style vectors of the given synthesis latents."""
        return self.G.styles(latent.to(self.device))

    @torch.no_grad()
    def generate(self, styles: Styles, offsets: torch.Tensor | None = None) -> torch.Tensor:
        """Images from styles, with optional per-sample additive offsets ``[N, S]`` on the flat coordinates."""
        return self.G.synthesize(styles, offsets=offsets, noise_mode="const")

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """``G(E(x) ++ C(x))`` for images in [-1, 1]."""
        return self.generate(self.styles(self.encode(images)))

    # ------------------------------------------------------------------ data
    def dataset(self, split: str = "val", data: DataSpec | None = None):
        """The run's data set (or ``data``) at the run's resolution, for the given split."""
        spec = data or self.data_spec
        if data is None and spec.path is not None and not Path(spec.path).expanduser().exists():
            raise StylexError(f"the data this run was trained on, {spec.path} (data.path in "
                              f"{self.dir / 'config.json'}), is not there: move it back or edit that path; "
                              "`stylex attfind` and `stylex evaluate` also take --data for another copy")
        return open_dataset(dataclasses.replace(spec, split=split, resolution=self.resolution),
                            progress=self.progress)

    def load_images(self, n: int, split: str = "val", offset: int = 0, data: DataSpec | None = None,
                    seed: int | None = None) -> torch.Tensor:
        """``n`` images of a split as ``[n, 3, H, W]`` in [-1, 1] (a deterministic selection)."""
        ds = self.dataset(split, data)
        u8 = ds.uint8_images()
        order = np.arange(len(ds)) if seed is None else np.random.default_rng(seed).permutation(len(ds))
        idx = np.sort(order[offset:offset + n])
        if len(idx) < n:
            raise StylexError(f"the {split} split of {ds.format} data has {len(ds)} images; {offset + n} were needed")
        return images_to_tensor(u8[idx], self.device)


def load_run(path: str | Path, device: str | torch.device = "cpu", progress: bool = True) -> Run:
    """Load a StylEx run directory written by ``stylex train``.

    Args:
        path: the run directory (with ``config.json``, ``checkpoint.pt`` and ``classifier.pt``).
        device: where to put the networks.
        progress: show progress bars when a data split is decoded for the first time.

    Returns:
        A :class:`Run` in eval mode with the EMA generator as ``G``.
    """
    path = Path(path)
    config = read_run_config(path)   # a damaged config.json is named, not a traceback
    device = torch.device(device)
    ck = safe_load(path / CHECKPOINT_NAME, map_location=device)
    G, E, D = build_networks(config.train.network)
    G.load_state_dict(ck["G_ema"])
    E.load_state_dict(ck["E"])
    D.load_state_dict(ck["D"])
    clf_path = path / "classifier.pt"
    if not clf_path.is_file():
        raise StylexError(f"{clf_path} is missing: the run directory is incomplete")
    classifier = load_classifier(clf_path, device=device)
    for m in (G, E, D, classifier):
        m.to(device).eval()
        freeze(m)
    fold_batchnorm(classifier)  # inference only: same function, about half the CPU time
    return Run(dir=path, config=config, G=G, E=E, D=D, classifier=classifier, device=device,
               progress=progress)
