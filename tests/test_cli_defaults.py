"""Command-line defaults come from the dataclasses that own them, and --resume refuses options that
would change the run instead of dropping them silently."""

from __future__ import annotations

import dataclasses

import pytest

from stylex.cli import build_parser, main
from stylex.commands import Default, explicit_options, resolve_defaults


def parse(argv):
    args = build_parser().parse_args(argv)
    given = explicit_options(args)
    return resolve_defaults(args), given


def test_defaults_are_the_dataclasses_defaults():
    from stylex.data import DataSpec
    from stylex.explain.pipeline import AttFindConfig, EvalConfig
    from stylex.explain.selection import SelectionConfig
    from stylex.training.classifier import ClassifierTrainConfig

    args, given = parse(["attfind", "--run", "r", "--out", "o"])
    af = AttFindConfig()
    assert (args.num_images, args.source, args.batch_size, args.precision, args.seed) == \
        (af.num_images, af.source, af.batch_size, af.precision, af.seed)
    assert args.num_attributes == SelectionConfig().num_attributes
    assert (args.format, args.synthetic_size, args.synthetic_seed) == \
        (DataSpec(None).format, DataSpec(None).synthetic_size, DataSpec(None).synthetic_seed)
    assert "num_images" not in given and {"run", "out"} <= given
    args, _ = parse(["evaluate", "--run", "r", "--attributes", "a", "--out", "o"])
    ev = EvalConfig()
    assert (args.top_k, args.repeats, args.test_images, args.recon_images) == \
        (ev.top_k, ev.repeats, ev.test_images, ev.recon_images)
    args, _ = parse(["train-classifier", "--data", "synthetic", "--out", "o"])
    ct = ClassifierTrainConfig(data=None, out_dir="o")
    assert (args.resolution, args.epochs, args.batch_size, args.lr, args.weight_decay, args.workers) == \
        (ct.resolution, ct.epochs, ct.batch_size, ct.lr, ct.weight_decay, ct.num_workers)
    args, _ = parse(["train", "--out", "o"])
    assert args.preset == "cpu"


def test_help_shows_the_looked_up_default(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "(default: 250)" in capsys.readouterr().out
    assert str(Default("stylex.report.build:build_report", "num_attributes")) == "6"
    owner = Default("stylex.training.config:TrainConfig", "losses")   # a default_factory field
    assert dataclasses.is_dataclass(owner.value())


def test_resume_refuses_options_that_change_the_run(tmp_path, capsys):
    rc = main(["train", "--out", str(tmp_path / "r"), "--resume", "--lr", "0.01", "--batch", "8",
               "--synthetic-size", "10", "--kimg", "2", "--device", "cpu", "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--lr" in err and "--batch" in err and "--synthetic-size" in err
    assert "--kimg" not in err.split("would be ignored")[0]
    assert not (tmp_path / "r").exists()


def test_every_listed_subcommand_is_registered():
    """A missing command module is an import error, not a silently absent subcommand."""
    from stylex import cli

    names = set(build_parser()._subparsers._group_actions[0].choices)
    assert names == {m.replace("_", "-") for m in cli.COMMAND_MODULES}
    old = list(cli.COMMAND_MODULES)
    try:
        cli.COMMAND_MODULES.append("no_such_command")
        with pytest.raises(ModuleNotFoundError):
            build_parser()
    finally:
        cli.COMMAND_MODULES[:] = old


def test_lpips_net_is_an_option_of_train():
    args, given = parse(["train", "--out", "o", "--lpips-net", "vgg"])
    assert args.lpips_net == "vgg" and "lpips_net" in given


def test_train_help_shows_the_presets_values_not_none(capsys):
    from stylex.training.config import PRESETS

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())          # undo the help formatter's line breaks
    assert "default: None" not in text
    kimg = ", ".join(f"{name} {cfg.kimg}" for name, cfg in PRESETS.items())
    assert f"(default: by --preset: {kimg})" in text
    assert f"(default: {PRESETS['cpu'].losses.adv} in every preset)" in text


def test_preset_filled_options_stay_unset_after_parsing():
    args, given = parse(["train", "--out", "o", "--data", "synthetic"])
    assert args.kimg is None and args.lr is None and args.warmup_kimg is None and args.compile is None
    assert not {"kimg", "lr", "warmup_kimg", "compile"} & given
    args, given = parse(["train", "--out", "o", "--kimg", "3", "--compile"])
    assert args.kimg == 3.0 and args.compile is True and {"kimg", "compile"} <= given
