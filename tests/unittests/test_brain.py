"""PrototypeBrain pieces: optimizer groups, clipping, lrs, devices, recipe YAMLs."""

import pathlib

import pytest
import speechbrain as sb
import torch
import yaml
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.batch import PaddedBatch
from torch.nn.parallel import DistributedDataParallel

from speechbrain_protos.baseline_brains import ClassifierBrain
from speechbrain_protos.baselines import EcapaClassifier, TemporalConvClassifier
from speechbrain_protos.brain import PrototypeBrain
from speechbrain_protos.curriculum import Curriculum
from speechbrain_protos.experiment import close_distributed
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


def make_brain(
    tmp_path, mode="supervised", stages=("raw", "gain"), run_opts=None, **overrides
):
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
        run_opts={"device": "cpu", "max_grad_norm": 1.0, **(run_opts or {})},
        class_names=["a", "b"],
    )


def make_classifier_brain(tmp_path, run_opts=None):
    """A baseline Brain (the direct classifier, with BatchNorm)."""
    hparams = {
        "epoch_counter": None,
        "train_logger": None,
        "augmentation": None,
        "dataloader_options": {},
        "test_dataloader_options": {},
        "output_folder": str(tmp_path),
        "compute_cost": torch.nn.functional.cross_entropy,
    }
    modules = {
        "compute_features": LogMel(
            sample_rate=16000, n_fft=256, hop_length=128, n_mels=32
        ),
        "model": TemporalConvClassifier(32, 2),
    }
    return ClassifierBrain(
        modules=modules,
        opt_class=torch.optim.AdamW,
        hparams=hparams,
        run_opts={"device": "cpu", **(run_opts or {})},
        class_names=["a", "b"],
    )


def labelled_batch(n_clips=2, samples=4000):
    return PaddedBatch(
        [
            {"sig": torch.rand(samples) - 0.5, "label_encoded": torch.tensor([k % 2])}
            for k in range(n_clips)
        ]
    )


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


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
    message = r"3 prototypes .* 2 classes \(set n_classes: 2"
    with pytest.raises(ValueError, match=message):
        PrototypeBrain(
            modules={
                "compute_features": LogMel(),
                "model": PrototypeReconstructor(3, n_mels=32, start_dim=4, n_pools=2),
            },
            hparams=make_brain(tmp_path).hparams.__dict__,
            class_names=["a", "b"],
        )


@pytest.mark.parametrize("model", ["direct", "ecapa"])
def test_a_classifier_with_too_many_outputs_is_refused_like_ours(tmp_path, model):
    """Nine classes left in the data, a model of ten: the same clear error as
    PrototypeBrain's, not a shape error in the metrics."""
    brain = make_classifier_brain(tmp_path)
    modules = dict(brain.modules)
    modules["model"] = (
        TemporalConvClassifier(32, 10)
        if model == "direct"
        else EcapaClassifier(32, 10, channels=[16, 16, 16, 16, 48])
    )
    with pytest.raises(ValueError, match=r"10 outputs .* 2 classes \(set n_classes: 2"):
        ClassifierBrain(
            modules=modules,
            hparams=brain.hparams.__dict__,
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


# ---- Devices -------------------------------------------------------------------
@pytest.mark.parametrize(
    "device, precision",
    [
        ("cpu", "fp32"),
        pytest.param("cuda:0", "fp32", marks=CUDA),
        pytest.param("cuda:0", "fp16", marks=CUDA),
    ],
)
def test_a_training_step_on_each_device(tmp_path, device, precision):
    """One fit_batch, every transform on: fp16 goes through the GradScaler."""
    brain = make_brain(
        tmp_path,
        stages=("gain", "pitch", "filters"),
        run_opts={"device": device, "precision": precision},
    )
    brain.curriculum.stage_index = 2
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, epoch=1)
    brain.modules.train()
    before = brain.model.prototypes.detach().clone()
    scale = brain.scaler.get_scale()
    loss = brain.fit_batch(labelled_batch())
    assert torch.isfinite(loss) and brain.optimizer_step == 1
    assert brain.scaler.is_enabled() == (precision == "fp16")
    assert brain.counts.n_clips == 2 and int(brain.counts.counts.sum()) == 2
    stepped = not torch.equal(brain.model.prototypes, before)
    # A fp16 step skipped for overflowing gradients lowers the scale instead.
    assert stepped or brain.scaler.get_scale() < scale


@CUDA
@pytest.mark.parametrize("mode", ["supervised", "unsupervised"])
def test_objectives_never_wait_for_the_gpu(tmp_path, mode):
    brain = make_brain(tmp_path, mode=mode, run_opts={"device": "cuda:0"})
    brain.on_stage_start(sb.Stage.TRAIN, epoch=1)
    batch = brain.to_device(labelled_batch(n_clips=3))
    errors = torch.rand(3, 2, device="cuda", requires_grad=True)
    beta = torch.tensor(1.0, device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        loss = brain.compute_objectives((errors, beta), batch, sb.Stage.TRAIN)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert loss.device.type == "cuda" and brain.counts.n_clips == 3


def test_batches_go_to_the_device_without_blocking(tmp_path, monkeypatch):
    brain = make_brain(tmp_path)
    calls = []
    original = PaddedBatch.to

    def spy(batch, *args, **kwargs):
        calls.append(kwargs)
        return original(batch, *args, **kwargs)

    monkeypatch.setattr(PaddedBatch, "to", spy)
    brain.compute_forward(labelled_batch(), sb.Stage.VALID)
    assert calls == [{"non_blocking": True}]


def test_loaders_pin_memory_by_default_on_cuda_only(tmp_path):
    brain = make_brain(tmp_path)
    data = [{"sig": torch.zeros(4000), "label_encoded": torch.tensor([0])}]

    def pinned(**kwargs):
        return brain.make_dataloader(
            data, sb.Stage.TRAIN, ckpt_prefix=None, collate_fn=PaddedBatch, **kwargs
        ).pin_memory

    assert not pinned()
    brain.device_type = "cuda"  # as on a GPU
    assert pinned() and not pinned(pin_memory=False)


@pytest.mark.parametrize(
    "device, synced", [("cpu", False), pytest.param("cuda:0", True, marks=CUDA)]
)
@pytest.mark.parametrize("make", [make_brain, make_classifier_brain])
def test_ddp_syncs_batchnorm_on_gpus_only(
    tmp_path, one_process_group, make, device, synced
):
    """SyncBatchNorm has no CPU kernel: under DDP on CPU the BatchNorms stay."""
    brain = make(tmp_path, run_opts={"device": device, "distributed_backend": "gloo"})
    brain.distributed_launch = True  # as under torchrun
    brain._wrap_distributed()
    try:
        assert isinstance(brain.modules.model, DistributedDataParallel)
        norms = [
            type(module)
            for module in brain.modules.model.modules()
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)
        ]
        assert norms and all(
            (norm is torch.nn.SyncBatchNorm) == synced for norm in norms
        )
        brain.modules.train()
        scores = brain.compute_forward(labelled_batch(), sb.Stage.TRAIN)
        scores[0].sum().backward()
    finally:
        close_distributed(brain)
