"""PrototypeBrain pieces: optimizer groups, clipping, lrs, recipe YAMLs."""

import pathlib

import pytest
import torch
import yaml
from hyperpyyaml import load_hyperpyyaml

from speechbrain_protos.brain import PrototypeBrain
from speechbrain_protos.curriculum import Curriculum
from speechbrain_protos.features import LogMel
from speechbrain_protos.lobes import PrototypeReconstructor
from speechbrain_protos.losses import PrototypeObjective

REPO = pathlib.Path(__file__).resolve().parents[2]
OVERRIDE_YAMLS = ("demo.yaml",)  # applied on top of a recipe YAML
# The prototype recipes' YAMLs (the baselines name another brain_class).
RECIPE_YAMLS = sorted(
    path
    for path in REPO.glob("recipes/*/*/hparams/*.yaml")
    if path.name not in OVERRIDE_YAMLS and "brain_class" not in path.read_text()
)


def make_brain(tmp_path, mode="supervised", stages=("raw", "gain"), **overrides):
    hparams = {
        "objective": PrototypeObjective(mode),
        "curriculum": Curriculum(list(stages), limit=10, max_epochs=1),
        "augmentation": None,
        "train_logger": None,
        "lr": 0.01,
        "beta_lr_scale": 5,
        "weight_decay": 1e-6,
        "best_checkpoint_key": "error",
        "output_folder": str(tmp_path),
        "seed": 0,
        "prototype_init": "class_mean",
        "reassign_threshold": 0.02,
        "reassign_noise": 0.01,
        **overrides,
    }
    modules = {
        "compute_features": LogMel(
            sample_rate=16000, n_fft=256, hop_length=128, n_mels=32
        ),
        "model": PrototypeReconstructor(2, n_mels=32, start_dim=4, n_pools=2),
    }
    return PrototypeBrain(
        modules=modules,
        opt_class=torch.optim.AdamW,
        hparams=hparams,
        run_opts={"device": "cpu", "max_grad_norm": 1.0},
        class_names=["a", "b"],
    )


def test_parameter_groups(tmp_path):
    brain = make_brain(tmp_path, stages=("raw", "ce_temperature"))
    brain.init_optimizers()
    groups = {group["name"]: group for group in brain.optimizer.param_groups}
    assert list(groups) == ["prototypes", "beta", "encoder", "gain", "pitch", "filters"]
    assert groups["prototypes"]["weight_decay"] == groups["beta"]["weight_decay"] == 0
    assert (
        groups["encoder"]["weight_decay"] == groups["filters"]["weight_decay"] == 1e-6
    )
    assert groups["beta"]["base_lr"] == pytest.approx(0.05)
    assert groups["beta"]["lr"] == 0.0  # frozen until the ce_temperature stage
    assert groups["gain"]["lr"] == pytest.approx(0.01)


def test_gradient_clipping_covers_every_group(tmp_path):
    brain = make_brain(tmp_path)
    brain.init_optimizers()
    for group in brain.optimizer.param_groups:
        for param in group["params"]:
            param.grad = torch.full_like(param, 10.0)
    norms = []
    brain.optimizer.step = lambda *args, **kwargs: norms.append(
        torch.norm(
            torch.stack(
                [
                    p.grad.norm()
                    for g in brain.optimizer.param_groups
                    for p in g["params"]
                ]
            )
        ).item()
    )
    brain.optimizers_step()
    assert norms == [pytest.approx(1.0, rel=1e-4)]
    assert brain.optimizer_step == 1


def test_learning_rates_follow_the_curriculum(tmp_path):
    brain = make_brain(tmp_path, stages=("raw", "lr_decay"))
    brain.init_optimizers()
    brain.curriculum.current = 1
    brain.curriculum.update(1.0, step=0)  # max_epochs 1: raw -> lr_decay
    brain.on_fit_batch_start(None, True)
    lrs = [g["lr"] for g in brain.optimizer.param_groups if g["name"] != "beta"]
    assert lrs == pytest.approx([0.001] * 5)


def test_supervised_needs_one_prototype_per_class(tmp_path):
    with pytest.raises(ValueError, match="one prototype per class"):
        PrototypeBrain(
            modules={
                "compute_features": LogMel(),
                "model": PrototypeReconstructor(3, n_mels=32, start_dim=4, n_pools=2),
            },
            hparams=make_brain(tmp_path).hparams.__dict__,
            class_names=["a", "b"],
        )


def test_missing_settings_are_named(tmp_path):
    brain = make_brain(tmp_path)
    hparams = dict(brain.hparams.__dict__)
    del hparams["reassign_noise"], hparams["lr"]
    hparams["objective"] = PrototypeObjective("unsupervised")
    with pytest.raises(ValueError, match=r"\['lr', 'reassign_noise'\]"):
        PrototypeBrain(
            modules=dict(brain.modules), hparams=hparams, class_names=["a", "b"]
        )
    with pytest.raises(ValueError, match="prototype_init"):
        make_brain(tmp_path, prototype_init="random")


def test_unsupervised_evaluation_needs_training_clips(tmp_path):
    brain = make_brain(tmp_path, mode="unsupervised")
    with pytest.raises(ValueError, match="mapping_set"):
        brain.evaluate([])


@pytest.mark.parametrize(
    "path", RECIPE_YAMLS, ids=lambda p: f"{p.parent.parent.name}/{p.name}"
)
def test_recipe_yaml_loads_with_everything_the_brain_needs(path, tmp_path):
    assert len(RECIPE_YAMLS) == 4
    with open(path, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(
            fin, {"data_folder": str(tmp_path), "output_folder": str(tmp_path)}
        )
    model = hparams["model"]
    assert model.n_prototypes == hparams["n_classes"]
    assert (
        sum(p.numel() for p in model.parameters()) == 479_465 + 518 * model.n_prototypes
    )
    assert model.active_transforms == ()
    brain = PrototypeBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": "cpu"},
        checkpointer=hparams["checkpointer"],
        class_names=[str(i) for i in range(hparams["n_classes"])],
    )
    assert brain.supervised == ("unsupervised" not in path.name)


@pytest.mark.parametrize("recipe", ["sol.yaml", "sol_unsupervised.yaml"])
def test_demo_overrides_apply_to_both_sol_recipes(recipe, tmp_path):
    folder = REPO / "recipes" / "SOL" / "instrument_id" / "hparams"
    overrides = yaml.safe_load((folder / "demo.yaml").read_text())
    overrides.update(data_folder=str(tmp_path), output_folder=str(tmp_path))
    with open(folder / recipe, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    assert hparams["curriculum"].stages == overrides["curriculum"]["stages"]
    assert hparams["curriculum"].max_epochs == overrides["curriculum"]["max_epochs"]
    assert hparams["model"].beta.item() == pytest.approx(1000.0)
    assert hparams["lr"] == overrides["lr"]
