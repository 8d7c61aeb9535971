"""StylEx training loop on tiny CPU configurations: config validation, gradients, resume
bit-identity, non-finite handling, the 2-process gloo path and the Run API."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch

from stylex.cli import main
from stylex.data import DataSpec
from stylex.errors import StylexError
from stylex.training.config import PRESETS, TrainConfig, resolve_config

SYN = dict(synthetic_size=48, synthetic_seed=0)


def tiny_cfg(**over) -> TrainConfig:
    base = dict(rec_lpips_weight=0.0, kimg=0.016, tick_kimg=0.008, device="cpu", r1_interval=2, pl_interval=2)
    base.update(over)
    return resolve_config("tiny", **base)


def synthetic_spec(resolution: int = 32) -> DataSpec:
    return DataSpec(path=None, format="synthetic", resolution=resolution, cache_dir=None, **SYN)


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory) -> Path:
    """An (untrained) tiny MobileNetV2 classifier for the synthetic world, saved as classifier.pt."""
    from stylex.models.classifier import ClassifierConfig, build_classifier, save_classifier

    torch.manual_seed(0)
    cfg = ClassifierConfig(num_classes=2, class_names=["a", "b"], width_mult=0.25, pretrained="none",
                           input_size=None)
    adapter = build_classifier(cfg)
    path = tmp_path_factory.mktemp("clf") / "classifier.pt"
    save_classifier(path, adapter, cfg, extra={})
    return path


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEX_CACHE", str(tmp_path / "cache"))


# ---------------------------------------------------------------------------- config
def test_presets_validate():
    for name, cfg in PRESETS.items():
        assert cfg.validate().preset == name


@pytest.mark.parametrize("over, msg", [
    (dict(resolution=48), "--resolution"),
    (dict(paths="mapping"), "--paths"),
    (dict(kimg=0), "--kimg"),
    (dict(lr_g=2.0), "lr_g"),
    (dict(rec_lpips_weight=-1), "rec-lpips"),
    (dict(batch_size=6, batch_gpu=4), "--batch-gpu"),
])
def test_config_validation_errors(over, msg):
    with pytest.raises(StylexError, match=msg):
        resolve_config("tiny", **over)


def test_config_unknown_option_and_preset():
    with pytest.raises(StylexError, match="unknown training options: frobnicate"):
        resolve_config("tiny", frobnicate=1)
    with pytest.raises(StylexError, match="unknown --preset"):
        resolve_config("huge")


def test_config_json_round_trip():
    cfg = tiny_cfg(paths="encoder")
    assert TrainConfig.from_json_dict(json.loads(json.dumps(cfg.to_json_dict()))) == cfg


def test_cli_rejects_bad_option_before_work(tmp_path, capsys):
    rc = main(["train", "--data", "synthetic", "--classifier", "x.pt", "--out", str(tmp_path / "r"),
               "--preset", "tiny", "--resolution", "48"])
    assert rc == 2
    assert "--resolution" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------- training
def _state(run_dir: Path) -> dict:
    from stylex.training.checkpoint import safe_load

    return safe_load(run_dir / "checkpoint.pt")


def _assert_same_weights(a: dict, b: dict) -> None:
    for key in ("G", "G_ema", "E", "D"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs"
    assert a["counters"] == b["counters"]


def test_train_writes_run_and_resume_is_bit_identical(tmp_path, classifier_file):
    from stylex.training.loop import train

    cfg = tiny_cfg()
    straight = tmp_path / "straight"
    stats = train(cfg, synthetic_spec(), classifier_file, straight, progress=False)
    assert stats["kimg"] == pytest.approx(0.016)
    lines = [json.loads(l) for l in (straight / "stats.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    for key in ("kimg", "img_per_s", "sec_per_kimg", "peak_mem_gb", "G_rec_l1", "G_cls_kl", "D_loss"):
        assert key in lines[-1], key
    assert (straight / "samples" / "latest.png").is_file()
    assert json.loads((straight / "config.json").read_text())["train"]["preset"] == "tiny"

    split = tmp_path / "split"
    train(tiny_cfg(kimg=0.008), synthetic_spec(), classifier_file, split, progress=False)
    train(cfg, synthetic_spec(), None, split, resume=True, progress=False)
    _assert_same_weights(_state(straight), _state(split))


def test_time_budget_stops_at_a_tick_with_a_checkpoint_and_resume_is_bit_identical(tmp_path, classifier_file,
                                                                                     capsys):
    """--max-minutes: stop at the first tick past the budget, checkpoint (even off the snapshot
    schedule), and a resumed run ends where an uninterrupted one does."""
    from stylex.training.loop import train

    cfg = tiny_cfg(snapshot_ticks=100)               # no scheduled checkpoint before the end
    straight = tmp_path / "straight"
    train(cfg, synthetic_spec(), classifier_file, straight, progress=False)
    budget = tmp_path / "budget"
    stats = train(cfg, synthetic_spec(), classifier_file, budget, progress=False, max_minutes=1e-6)
    assert stats["stopped_early"] and stats["kimg"] == pytest.approx(0.008)
    assert _state(budget)["counters"]["cur_nimg"] == 8
    stats = train(cfg, synthetic_spec(), None, budget, resume=True, progress=False)
    assert "stopped_early" not in stats and stats["kimg"] == pytest.approx(0.016)
    _assert_same_weights(_state(straight), _state(budget))
    from stylex.cli import main

    assert main(["train", "--out", str(budget), "--resume", "--no-progress"]) == 0   # already complete
    assert "nothing to train" in capsys.readouterr().out
    with pytest.raises(StylexError, match="--max-minutes"):
        train(cfg, synthetic_spec(), classifier_file, tmp_path / "x", progress=False, max_minutes=0)


def test_existing_run_needs_resume(tmp_path, classifier_file):
    from stylex.training.loop import train

    out = tmp_path / "r"
    train(tiny_cfg(kimg=0.004, tick_kimg=0.004), synthetic_spec(), classifier_file, out, progress=False)
    with pytest.raises(StylexError, match="--resume"):
        train(tiny_cfg(), synthetic_spec(), classifier_file, out, progress=False)


def test_every_parameter_gets_a_gradient(classifier_file):
    """One encoder-path and one mapping-path step together touch every parameter of G, E and D."""
    from stylex.models.classifier import load_classifier
    from stylex.models.networks import build_networks
    from stylex.training.losses import StylexLoss

    cfg = tiny_cfg()
    clf = load_classifier(classifier_file)
    G, E, D = build_networks(cfg.with_classes(2).network)
    loss = StylexLoss(G, E, D, clf, cfg.losses, None, cfg.network.z_dim)
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    probs = loss.class_probs(real)
    total = loss.generator_encoder_path(real, probs).loss + loss.generator_mapping_path(probs).loss
    res = loss.generator_encoder_path(real, probs)
    total = total + loss.discriminator_main(real, probs, res.fake.detach(), probs).loss
    total = total + loss.generator_path_length(probs, 4, 0.01).loss
    total.backward()
    for name, net in (("G", G), ("E", E), ("D", D)):
        missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
        assert not missing, f"{name}: no gradient for {missing}"


def test_nonfinite_steps_are_skipped_then_stop(tmp_path, classifier_file, monkeypatch):
    from stylex.training import loop

    out = tmp_path / "nan"
    # resume keeps the stored configuration: create the run with the settings under test
    cfg = tiny_cfg(kimg=0.004, tick_kimg=0.004, paths="encoder", max_nonfinite=3)
    loop.train(cfg, synthetic_spec(), classifier_file, out, progress=False)
    before = _state(out)
    original = loop.StylexLoss.generator_encoder_path

    def poisoned(self, real, probs):
        res = original(self, real, probs)
        res.loss = res.loss * float("nan")
        return res

    monkeypatch.setattr(loop.StylexLoss, "generator_encoder_path", poisoned)
    cfg = tiny_cfg(kimg=0.2)
    with pytest.warns(UserWarning, match="non-finite"):
        with pytest.raises(StylexError, match="diverged"):
            loop.train(cfg, synthetic_spec(), None, out, resume=True, progress=False)
    _assert_same_weights(before, _state(out))  # the last good checkpoint is kept


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dist_worker(rank: int, world: int, port: int, out: str, clf: str, cache: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), STYLEX_CACHE=cache)
    torch.set_num_threads(1)
    from stylex.training.loop import train

    # Each process sees different images; every checkpoint checks that all processes still hold the
    # same weights (it raises otherwise), so this fails if gradients are not averaged.
    train(tiny_cfg(), synthetic_spec(), clf, out, progress=False)
    import torch.distributed as dist

    dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_gloo_training(tmp_path, classifier_file):
    import torch.multiprocessing as mp

    out = tmp_path / "ddp"
    mp.spawn(_dist_worker, args=(2, _free_port(), str(out), str(classifier_file), str(tmp_path / "cache")),
             nprocs=2, join=True)
    assert (out / "checkpoint.pt").is_file()
    assert len((out / "stats.jsonl").read_text().splitlines()) == 2


def test_run_api(tmp_path, classifier_file):
    from stylex.trained_run import load_run
    from stylex.training.loop import train

    out = tmp_path / "api"
    train(tiny_cfg(kimg=0.004, tick_kimg=0.004), synthetic_spec(), classifier_file, out, progress=False)
    run = load_run(out)
    images = run.load_images(3, split="train")
    assert images.shape == (3, 3, 32, 32) and images.min() >= -1 and images.max() <= 1
    latent = run.encode(images)
    assert latent.shape == (3, run.train_config.network.w_dim + 2)
    styles = run.styles(latent)
    assert styles.flat().shape == (3, run.layout.num_coords)
    recon = run.generate(styles)
    assert recon.shape == images.shape and torch.isfinite(recon).all()
    assert torch.allclose(run.reconstruct(images), recon)
    assert run.sample_latents(4, seed=1).shape == latent.shape[:0] + (4, latent.shape[1])


def test_sigterm_writes_a_checkpoint_and_resume_continues(tmp_path, classifier_file):
    """`kill` (SIGTERM) during training checkpoints like Ctrl-C; --resume then finishes the run."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "term"
    env = dict(os.environ, STYLEX_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "stylex", "train", "--data", "synthetic", "--synthetic-size", "48",
           "--classifier", str(classifier_file), "--out", str(out), "--preset", "tiny", "--kimg", "5",
           "--tick-kimg", "0.004", "--lpips-weight", "0", "--no-progress", "--device", "cpu"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / "stats.jsonl").is_file() and time.time() < deadline:  # the loop is running
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted at kimg" in err
    counters = _state(out)["counters"]
    assert 0 < counters["cur_nimg"] < 5000


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_mid_step_stops_at_its_end_and_resume_is_bit_identical(tmp_path, classifier_file, monkeypatch, sig):
    """Issue 17, defect 7: a signal inside a step (here in the middle of a tick) finishes that step, checkpoints
    at its end and stops; the resumed run ends with the weights and stats rows of an uninterrupted one."""
    import signal

    from stylex.training import loop

    cfg = tiny_cfg(kimg=0.024)
    straight = tmp_path / "straight"
    loop.train(cfg, synthetic_spec(), classifier_file, straight, progress=False)
    assert _state(straight)["counters"]["cur_nimg"] == 24
    original, calls = loop._generator_phase, []

    def signalled(*args):
        calls.append(None)
        if len(calls) == 3:                  # inside the third step: the second of the three ticks has begun
            os.kill(os.getpid(), getattr(signal, sig))
        return original(*args)

    run = tmp_path / "run"
    monkeypatch.setattr(loop, "_generator_phase", signalled)
    with pytest.raises(KeyboardInterrupt):
        loop.train(cfg, synthetic_spec(), classifier_file, run, progress=False)
    monkeypatch.setattr(loop, "_generator_phase", original)
    assert _state(run)["counters"]["cur_nimg"] == 12          # the step in progress was finished
    loop.train(cfg, synthetic_spec(), None, run, resume=True, progress=False)
    _assert_same_weights(_state(straight), _state(run))
    timing = ("img_per_s", "sec_per_kimg", "peak_mem_gb")
    rows = [[{k: v for k, v in json.loads(line).items() if k not in timing}
             for line in (d / "stats.jsonl").read_text().splitlines()] for d in (straight, run)]
    assert rows[0] == rows[1] and len(rows[0]) == 3


def test_checkpoint_keeps_the_previous_one(tmp_path, classifier_file):
    """Issue 17, defect 13: writing a checkpoint keeps the one it replaces as checkpoint.prev.pt."""
    from stylex.training.checkpoint import safe_load
    from stylex.training.loop import train

    out = tmp_path / "r"
    train(tiny_cfg(kimg=0.012, tick_kimg=0.004), synthetic_spec(), classifier_file, out, progress=False)
    assert safe_load(out / "checkpoint.prev.pt")["counters"]["cur_nimg"] == 8
    assert _state(out)["counters"]["cur_nimg"] == 12
    assert sorted(p.name for p in out.iterdir() if p.name.startswith((".", "checkpoint", "run.lock"))) == \
        ["checkpoint.prev.pt", "checkpoint.pt"]      # no temporary file, no lock file left behind
