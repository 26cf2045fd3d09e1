"""PrototypeBrain: training and evaluation of playable prototypes.

One :class:`speechbrain.core.Brain` subclass serves every recipe, supervised
(eq. 9, prototype k is class k) or unsupervised (eq. 7, clusters named after
training by the majority class of their training clips). Beyond the four
usual hooks it:

* builds one optimizer with named parameter groups (prototypes and beta
  without weight decay, beta at its own lr scale, encoder and each decoder
  with weight decay) and sets their learning rates every step from the
  :class:`~speechbrain_protos.curriculum.Curriculum`;
* clips the gradient norm over *all* groups (SpeechBrain's own
  ``optimizers_step`` clips only the first group of each optimizer);
* switches the model's transformations at the start of each training epoch
  from the curriculum, and keeps the best checkpoint of every stage, so the
  paper's ablation (Table 1) can be read off one run
  (:meth:`PrototypeBrain.write_stage_report`);
* reassigns under-used prototypes after each unsupervised epoch, and logs
  the clustering each epoch (NMI, ARI, clusters in use, the largest one's
  share, purity, reassignments);
* logs OA, AA and L_rec for train and valid every epoch, and at test writes
  ``test_results.json``, the confusion matrix (CSV and PNG) and
  ``model_config.json`` (what :mod:`speechbrain_protos.export` needs);
* runs under ``torchrun`` on CPU (gloo) as well as on GPUs: training
  statistics are summed over processes so every process takes the same
  curriculum and reassignment decisions (see :class:`DeviceMixin` for
  BatchNorm under DDP, pinned memory and asynchronous copies).

Required hyperparameters (YAML keys): ``objective``, ``curriculum``,
``augmentation`` (may be null), ``train_logger``, ``lr``, ``beta_lr_scale``,
``weight_decay``, ``best_checkpoint_key``, ``output_folder``, ``seed`` and
``prototype_init``; with ``prototype_init: kmeans++`` also
``n_init_proposals``; in unsupervised mode also ``reassign_threshold`` and
``reassign_noise``. Required modules: ``compute_features`` and ``model``.

Authors
 * speechbrain-protos developers 2026
"""

import csv
import json
import logging
import os

import speechbrain as sb
import torch
import torch.distributed as dist
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.utils.distributed import if_main_process
from tqdm import tqdm

from speechbrain_protos.data.dataio import batch_features
from speechbrain_protos.losses import chosen_errors
from speechbrain_protos.metrics import (
    AssignmentCounts,
    majority_mapping,
    write_test_report,
)
from speechbrain_protos.model_folder import MODEL_CONFIG_FILE, model_config
from speechbrain_protos.prototype_init import (
    INIT_METHODS,
    class_means,
    kmeans_plus_plus,
)
from speechbrain_protos.reassignment import reassign_prototypes

logger = logging.getLogger(__name__)

REQUIRED_HPARAMS = (
    "objective",
    "curriculum",
    "augmentation",
    "train_logger",
    "lr",
    "beta_lr_scale",
    "weight_decay",
    "best_checkpoint_key",
    "output_folder",
    "seed",
    "prototype_init",
)
KMEANS_HPARAMS = ("n_init_proposals",)
UNSUPERVISED_HPARAMS = ("reassign_threshold", "reassign_noise")
REQUIRED_MODULES = ("compute_features", "model")
INIT_NOISE_STD = 0.01  # noise on k-means++ picks (authors' value)
INIT_BATCH_SIZE = 16


def _is_distributed():
    return dist.is_available() and dist.is_initialized()


class TestedCheckpointMixin:
    """What every Brain of this package does around ``evaluate``.

    ``evaluate`` also takes ``mapping_set`` (the training clips, read whole,
    that name clusters; kept for ``on_evaluate_start``), required where
    ``needs_mapping_set`` is True, and :meth:`load_tested_checkpoint` loads
    the best checkpoint and keeps its metadata and path for the test report.
    """

    #: whether evaluation names clusters from ``mapping_set``
    needs_mapping_set = False

    def evaluate(
        self,
        test_set,
        max_key=None,
        min_key=None,
        progressbar=None,
        test_loader_kwargs=None,
        mapping_set=None,
    ):
        """As :meth:`speechbrain.core.Brain.evaluate`, plus ``mapping_set``
        (loader kwargs are copied, not mutated)."""
        if self.needs_mapping_set and mapping_set is None:
            raise ValueError(
                f"{type(self).__name__} evaluation needs mapping_set: the "
                "training clips (read whole) that name each cluster"
            )
        self._mapping_set = mapping_set
        self._mapping_loader_kwargs = dict(test_loader_kwargs or {})
        return super().evaluate(
            test_set, max_key, min_key, progressbar, dict(test_loader_kwargs or {})
        )

    def check_class_count(self, n_model_classes, what):
        """Refuses a model that scores another number of classes than the
        training data has (one check for every Brain of this package).

        Arguments
        ---------
        n_model_classes : int
            Classes the model distinguishes (prototypes, outputs).
        what : str
            What the model has that many of, for the message.
        """
        n_data = len(self.class_names)
        if n_model_classes != n_data:
            raise ValueError(
                f"{type(self).__name__}: the model has {n_model_classes} {what} "
                f"but the training data has {n_data} classes (set n_classes: "
                f"{n_data}; a class the data preparation skipped, e.g. for too "
                "little audio, is not in the training data)"
            )

    def load_tested_checkpoint(self, max_key=None, min_key=None):
        """Loads the best checkpoint by the key; keeps its metadata and path."""
        self.test_checkpoint_meta = {}
        self.test_checkpoint_path = None
        if self.checkpointer is not None:
            checkpoint = self.checkpointer.recover_if_possible(
                max_key=max_key, min_key=min_key
            )
            if checkpoint is not None:
                self.test_checkpoint_meta = dict(checkpoint.meta)
                self.test_checkpoint_path = str(checkpoint.path)


class DeviceMixin:
    """What every Brain of this package does about devices.

    * Training and evaluation loaders pin their batches by default when the
      Brain runs on CUDA (a ``pin_memory`` in the loader options wins), and
      :meth:`to_device` copies batches without blocking, so the copy of a
      batch overlaps the work already queued on the GPU.
    * Under DDP on GPUs, SpeechBrain turns every BatchNorm into a
      SyncBatchNorm: statistics over the global batch, as one process with
      that batch would compute them, and the same running statistics on
      every process. SyncBatchNorm has no CPU kernel, so under DDP on CPU
      (gloo) the modules keep BatchNorm: statistics of each process's own
      batch, running statistics broadcast from process 0 by DDP.
    """

    def to_device(self, batch):
        """The batch on the Brain's device (copied asynchronously when its
        memory is pinned)."""
        return batch.to(self.device, non_blocking=True)

    def make_dataloader(self, dataset, stage, ckpt_prefix="dataloader-", **kwargs):
        """As :meth:`speechbrain.core.Brain.make_dataloader`; ``pin_memory``
        defaults to True on CUDA."""
        kwargs.setdefault("pin_memory", self.device_type == "cuda")
        return super().make_dataloader(dataset, stage, ckpt_prefix, **kwargs)

    def _wrap_distributed(self):
        """DDP without SyncBatchNorm on CPU (it only runs on GPUs)."""
        if self.distributed_launch and self.device_type == "cpu":
            for name, module in self.modules.items():
                if any(p.requires_grad for p in module.parameters()):
                    self.modules[name] = torch.nn.parallel.DistributedDataParallel(
                        module, find_unused_parameters=self.find_unused_parameters
                    )
            return
        super()._wrap_distributed()


class PackageBrain(TestedCheckpointMixin, DeviceMixin, sb.Brain):
    """The base of every Brain of this package (ours and the baselines').

    One way to require settings, to take the class names and to register
    what the checkpoints hold; subclasses name them in class attributes.

    Arguments
    ---------
    modules, opt_class, hparams, run_opts, checkpointer
        As for :class:`speechbrain.core.Brain`.
    class_names : list of str
        Name of each class, in label-encoder order.
    """

    #: hyperparameters every run needs (see :meth:`required_hparams_for`)
    required_hparams = ()
    required_modules = REQUIRED_MODULES
    #: recoverables added to the checkpointer: an hparam of that name, else
    #: the module
    checkpointed = ("model",)

    def __init__(
        self,
        modules=None,
        opt_class=None,
        hparams=None,
        run_opts=None,
        checkpointer=None,
        class_names=None,
    ):
        hparams = hparams or {}
        required = self.required_hparams_for(hparams)
        missing = [key for key in required if key not in hparams]
        missing_modules = [
            key for key in self.required_modules if key not in (modules or {})
        ]
        if missing or missing_modules:
            raise ValueError(
                f"{type(self).__name__} is missing hyperparameters "
                f"{missing} and modules {missing_modules}"
            )
        if not class_names:
            raise ValueError(f"{type(self).__name__} needs the class names")
        super().__init__(modules, opt_class, hparams, run_opts, checkpointer)
        self.class_names = list(class_names)
        if self.checkpointer is not None:
            for name in self.checkpointed:
                if name not in self.checkpointer.recoverables:
                    recoverable = getattr(self.hparams, name, None)
                    self.checkpointer.add_recoverable(
                        name, recoverable or self.modules[name]
                    )
        self.counts = None
        self.train_stats = {}
        self.test_stats = None
        self.test_checkpoint_meta = {}
        self._mapping_set = None
        self._mapping_loader_kwargs = {}

    def required_hparams_for(self, hparams):
        """The hyperparameters this run needs (some depend on others)."""
        return self.required_hparams

    @property
    def epoch_source(self):
        """What ``fit`` iterates: an epoch counter or a curriculum."""
        raise NotImplementedError

    @property
    def tested_key(self):
        """The checkpoint key whose lowest value is tested."""
        raise NotImplementedError

    def before_training(self, datasets):
        """Called before ``fit`` (data-driven initialisation)."""

    def after_training(self):
        """Called between ``fit`` and the test (reports)."""

    def train_and_test(self, datasets):
        """The whole recipe: train, then test the best checkpoint.

        Arguments
        ---------
        datasets : dict
            ``train``, ``train_eval``, ``valid`` and ``test`` from
            :func:`speechbrain_protos.data.dataio.dataio_prep`.
        """
        self.before_training(datasets)
        self.fit(
            self.epoch_source,
            datasets["train"],
            datasets["valid"],
            train_loader_kwargs=dict(self.hparams.dataloader_options),
            valid_loader_kwargs=dict(self.hparams.test_dataloader_options),
        )
        self.after_training()
        self.evaluate(
            datasets["test"],
            min_key=self.tested_key,
            test_loader_kwargs=dict(self.hparams.test_dataloader_options),
            mapping_set=datasets["train_eval"],
        )


class PrototypeBrain(PackageBrain):
    """Brain for playable-prototype models; see the module docstring.

    Arguments
    ---------
    modules, opt_class, hparams, run_opts, checkpointer
        As for :class:`speechbrain.core.Brain`. ``opt_class`` is an
        optimizer class (e.g. ``!name:torch.optim.AdamW``); its lr and
        weight decay come from the ``lr`` and ``weight_decay`` hparams.
    class_names : list of str
        Name of each class, in label-encoder order.
    """

    required_hparams = REQUIRED_HPARAMS
    checkpointed = ("curriculum", "model")

    def required_hparams_for(self, hparams):
        """:data:`REQUIRED_HPARAMS`, plus k-means++'s and the unsupervised
        mode's settings when they are used."""
        required = list(REQUIRED_HPARAMS)
        if hparams.get("prototype_init") == "kmeans++":
            required += KMEANS_HPARAMS
        if "objective" in hparams and hparams["objective"].mode == "unsupervised":
            required += UNSUPERVISED_HPARAMS
        return required

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Stages switch decoders on and off, and beta is unused without L_ce,
        # so some parameters get no gradient in some steps.
        self.find_unused_parameters = True
        self.supervised = self.hparams.objective.mode == "supervised"
        if self.hparams.prototype_init not in INIT_METHODS:
            raise ValueError(
                f"prototype_init must be one of {INIT_METHODS}; got "
                f"{self.hparams.prototype_init!r}"
            )
        if self.supervised:  # one prototype per class
            self.check_class_count(self.model.n_prototypes, "prototypes")
        self.train_loss = None
        self.train_mapping = None
        self.test_mapping = None
        self._has_valid = True

    @property
    def model(self):
        """The PrototypeReconstructor, unwrapped from (D)DP if need be."""
        model = self.modules.model
        wrappers = (
            torch.nn.parallel.DistributedDataParallel,
            torch.nn.DataParallel,
        )
        return model.module if isinstance(model, wrappers) else model

    @property
    def curriculum(self):
        """The curriculum (also the epoch counter)."""
        return self.hparams.curriculum

    @property
    def epoch_source(self):
        """The curriculum: stages end by patience or their epoch cap."""
        return self.hparams.curriculum

    @property
    def tested_key(self):
        """``best_checkpoint_key`` of the YAML."""
        return self.hparams.best_checkpoint_key

    def before_training(self, datasets):
        """Initialises the prototypes from the training clips."""
        self.init_prototypes(datasets["train"])

    def after_training(self):
        """Writes the per-stage report (Table 1's rows)."""
        self.write_stage_report()

    # ------------------------------------------------------------------
    # Data-driven initialisation
    # ------------------------------------------------------------------
    @torch.no_grad()
    def init_prototypes(self, train_set):
        """Sets the prototypes from training crops (skipped when resuming).

        ``prototype_init: class_mean`` sets prototype k to the mean spectrum
        of class k; ``kmeans++`` seeds the prototypes among the time-averaged
        spectra of ``K + n_init_proposals`` random crops (the authors' way,
        for unsupervised training).

        Arguments
        ---------
        train_set : DynamicItemDataset
            Training clips (random crops).
        """
        if self.checkpointer is not None and self.checkpointer.find_checkpoint():
            logger.info("Resuming: prototypes come from the checkpoint")
            return
        method = self.hparams.prototype_init
        generator = torch.Generator().manual_seed(self.hparams.seed)
        n_items = len(train_set)
        if method == "kmeans++":
            size = min(n_items, self.model.n_prototypes + self.hparams.n_init_proposals)
            indices = torch.randperm(n_items, generator=generator)[:size].tolist()
        else:
            indices = list(range(n_items))
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(train_set, indices),
            batch_size=INIT_BATCH_SIZE,
            collate_fn=PaddedBatch,
        )
        spectra, labels = [], []
        for batch in loader:
            batch = batch.to(self.device)
            feats, _ = batch_features(batch, self.modules.compute_features)
            spectra.append(feats.mean(dim=1).cpu())
            labels.append(batch.label_encoded.data.reshape(-1).cpu())
        spectra, labels = torch.cat(spectra), torch.cat(labels)
        if method == "class_mean":
            init = class_means(spectra, labels, self.model.n_prototypes)
        else:
            chosen = kmeans_plus_plus(spectra, self.model.n_prototypes, generator)
            noise = torch.randn(len(chosen), spectra.shape[1], generator=generator)
            init = spectra[chosen] + INIT_NOISE_STD * noise
        self.model.prototypes.copy_(init.to(self.model.prototypes))
        logger.info("Initialised %d prototypes by %s", len(init), method)

    # ------------------------------------------------------------------
    # Optimisation
    # ------------------------------------------------------------------
    def init_optimizers(self):
        """One optimizer, with a named parameter group per part of the model."""
        model = self.model
        lr, decay = self.hparams.lr, self.hparams.weight_decay
        groups = [
            {"name": "prototypes", "params": [model.prototypes], "weight_decay": 0.0},
            {
                "name": "beta",
                "params": [model.beta_raw],
                "weight_decay": 0.0,
                "base_lr": lr * self.hparams.beta_lr_scale,
            },
            {
                "name": "encoder",
                "params": list(model.encoder.parameters()),
                "weight_decay": decay,
            },
        ] + [
            {"name": name, "params": list(decoder.parameters()), "weight_decay": decay}
            for name, decoder in model.decoders.items()
        ]
        grouped = sum(len(group["params"]) for group in groups)
        if grouped != len(list(model.parameters())):
            raise RuntimeError("optimizer groups do not cover every model parameter")
        for group in groups:
            group.setdefault("base_lr", lr)
            group["lr"] = group["base_lr"] * self.curriculum.lr_scale(
                group["name"], self.optimizer_step
            )
        self.optimizer = self.opt_class(groups)
        self.optimizers_dict = {"optimizer": self.optimizer}
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("optimizer", self.optimizer)

    def _apply_learning_rates(self):
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * self.curriculum.lr_scale(
                group["name"], self.optimizer_step
            )

    def on_fit_batch_start(self, batch, should_step):
        """Sets every group's lr from the curriculum (decays, warm-ups)."""
        self._apply_learning_rates()

    def optimizers_step(self):
        """Optimizer step with the gradient norm clipped over all groups."""
        optimizers = self.freeze_optimizers(self.optimizers_dict)
        for optimizer in optimizers.values():
            self.scaler.unscale_(optimizer)
        if self.max_grad_norm > 0:
            params = [
                param
                for optimizer in optimizers.values()
                for group in optimizer.param_groups
                for param in group["params"]
            ]
            torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        if not self.scaler.is_enabled() and self.skip_nonfinite_grads:
            self.check_gradients()
        for optimizer in optimizers.values():
            self.scaler.step(optimizer)
        self.scaler.update()
        for optimizer in optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        self.optimizer_step += 1

    # ------------------------------------------------------------------
    # Forward and objectives
    # ------------------------------------------------------------------
    def compute_forward(self, batch, stage):
        """Features, augmentation (train only), then the error matrix."""
        batch = self.to_device(batch)
        feats, lens = batch_features(batch, self.modules.compute_features)
        if stage == sb.Stage.TRAIN and self.hparams.augmentation is not None:
            feats = self.hparams.augmentation(feats)
        if self.supervised:
            return self.modules.model(feats, lens, return_beta=True)
        return self.modules.model(feats, lens), None

    def compute_objectives(self, predictions, batch, stage):
        """The objective of the mode; also counts predictions for metrics."""
        errors, beta = predictions
        targets = batch.label_encoded.data.reshape(-1)
        loss, _ = self.hparams.objective(
            errors,
            beta,
            targets if self.supervised else None,
            ce_weight=1.0 if self.curriculum.ce_active else 0.0,
        )
        predicted = errors.argmin(dim=1)
        # L_rec is measured on the prototype the clip is trained with (its
        # label's, in supervised training) or else on the predicted one.
        used = targets if self.supervised and stage == sb.Stage.TRAIN else predicted
        self.counts.append(targets, predicted, chosen_errors(errors, used))
        return loss

    # ------------------------------------------------------------------
    # Stages
    # ------------------------------------------------------------------
    def fit(
        self,
        epoch_counter,
        train_set,
        valid_set=None,
        progressbar=None,
        train_loader_kwargs=None,
        valid_loader_kwargs=None,
    ):
        """As :meth:`speechbrain.core.Brain.fit`; loader kwargs are copied."""
        self._has_valid = valid_set is not None
        super().fit(
            epoch_counter,
            train_set,
            valid_set,
            progressbar,
            dict(train_loader_kwargs or {}),
            dict(valid_loader_kwargs or {}),
        )

    def on_stage_start(self, stage, epoch=None):
        """Fresh counters; at train start, the curriculum's transforms."""
        self.counts = AssignmentCounts(
            len(self.class_names), self.model.n_prototypes, self.device
        )
        if stage == sb.Stage.TRAIN:
            self.model.active_transforms = self.curriculum.active_transforms

    def _identity_mapping(self):
        return torch.arange(self.model.n_prototypes)

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Metrics, reassignment, curriculum, logging and checkpoints."""
        if stage == sb.Stage.TRAIN:
            self._end_train_stage(stage_loss, epoch)
            if not self._has_valid:
                self._end_epoch(epoch, valid_stats=None)
        elif stage == sb.Stage.VALID:
            valid_stats = {
                "loss": stage_loss,
                **self.counts.summarize(self.train_mapping),
            }
            if not self.supervised:
                valid_stats.update(self.counts.clustering())
            self._end_epoch(epoch, valid_stats)
        else:
            self._end_test(stage_loss)

    def _end_train_stage(self, stage_loss, epoch):
        self.counts.merge_across_processes()
        self.train_loss = self._mean_across_processes(stage_loss)
        if self.supervised:
            mapping = self._identity_mapping()
        else:
            mapping = majority_mapping(self.counts.counts)
        self.train_stats = {"loss": self.train_loss, **self.counts.summarize(mapping)}
        if not self.supervised:
            # what the clustering looks like: NMI, ARI, clusters in use, the
            # largest one's share and purity, before this epoch's reassignment
            self.train_stats.update(self.counts.clustering())
            generator = torch.Generator().manual_seed(
                self.hparams.seed * 100003 + epoch
            )
            pairs = reassign_prototypes(
                self.model,
                self.optimizer,
                self.counts.prototype_counts(),
                threshold=self.hparams.reassign_threshold,
                noise_std=self.hparams.reassign_noise,
                generator=generator,
            )
            for target, source in pairs:
                mapping[target] = mapping[source]
            self.train_stats["reassigned"] = len(pairs)
            self._check_replicas_agree()
        self.train_mapping = mapping

    def _check_replicas_agree(self):
        """Under DDP, checks every process holds the same prototypes.

        Reassignment edits parameters outside of backward, where DDP does not
        synchronise them; every process must have made the same edit.
        """
        if not _is_distributed():
            return
        checksum = self.model.prototypes.detach().double().sum().to(self.device)
        low, high = checksum.clone(), checksum.clone()
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        if not torch.equal(low, high):
            raise RuntimeError(
                "DDP processes hold different prototypes after reassignment "
                f"(checksums {low.item()} to {high.item()})"
            )

    def _mean_across_processes(self, value):
        if not _is_distributed():
            return float(value)
        total = torch.tensor(float(value), dtype=torch.float64, device=self.device)
        dist.all_reduce(total)
        return total.item() / dist.get_world_size()

    def _end_epoch(self, epoch, valid_stats):
        stage_name = self.curriculum.stage
        lr = self.optimizer.param_groups[0]["lr"]
        change = self.curriculum.update(self.train_loss, self.optimizer_step)
        self.hparams.train_logger.log_stats(
            stats_meta={"epoch": epoch, "stage": stage_name, "lr": lr},
            train_stats=self.train_stats,
            valid_stats=valid_stats,
        )
        if change is not None:
            self.hparams.train_logger.log_stats(
                stats_meta={
                    "epoch": epoch,
                    "curriculum": f"{change['from']} -> {change['to'] or 'done'}",
                    "reason": change["reason"],
                }
            )
        scores = valid_stats if valid_stats is not None else self.train_stats
        meta = {
            "epoch": epoch,
            "stage": stage_name,
            "OA": scores["OA"],
            "AA": scores["AA"],
            "L_rec": scores["L_rec"],
            "error": 100.0 - scores["OA"],
        }
        self.checkpointer.save_and_keep_only(
            meta=meta,
            min_keys=[self.hparams.best_checkpoint_key],
            importance_keys=[],
            ckpt_predicate=lambda ckpt: ckpt.meta.get("stage") == stage_name,
        )

    # ------------------------------------------------------------------
    # Evaluation
    # ------------------------------------------------------------------
    @property
    def needs_mapping_set(self):
        """Unsupervised mode names its clusters from the training clips."""
        return not self.supervised

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Loads the best checkpoint, then names clusters (unsupervised)."""
        self.load_tested_checkpoint(max_key=max_key, min_key=min_key)
        if self.supervised:
            self.test_mapping = self._identity_mapping()
        else:
            self.test_mapping = self.cluster_mapping(
                self._mapping_set, self._mapping_loader_kwargs
            )

    @torch.no_grad()
    def cluster_mapping(self, dataset, loader_kwargs=None):
        """Majority class of each prototype over ``dataset`` (eval mode).

        Arguments
        ---------
        dataset : Dataset
            Labelled clips, e.g. the training set read whole.
        loader_kwargs : dict, optional
            DataLoader options.

        Returns
        -------
        torch.Tensor
            Long ``[K]`` class per prototype, -1 for prototypes no clip chose.
        """
        loader = self.make_dataloader(
            dataset, stage=sb.Stage.TEST, ckpt_prefix=None, **dict(loader_kwargs or {})
        )
        counts = AssignmentCounts(
            len(self.class_names), self.model.n_prototypes, self.device
        )
        self.modules.eval()
        for batch in tqdm(loader, desc="naming clusters", disable=self.noprogressbar):
            errors, _ = self.compute_forward(batch, sb.Stage.TEST)
            targets = batch.label_encoded.data.reshape(-1)
            best = errors.min(dim=1)
            counts.append(targets, best.indices, best.values)
        return majority_mapping(counts.counts)

    def _end_test(self, stage_loss):
        stats = {"loss": stage_loss, **self.counts.summarize(self.test_mapping)}
        self.test_stats = stats
        loaded = self.test_checkpoint_meta
        self.hparams.train_logger.log_stats(
            stats_meta={
                "Epoch loaded": loaded.get("epoch", self.curriculum.current),
                "stage": loaded.get("stage", self.curriculum.stage),
            },
            test_stats=stats,
        )
        if not if_main_process():
            return
        folder = self.hparams.output_folder
        write_test_report(
            folder, stats, self.counts, self.test_mapping, self.class_names, loaded
        )
        self._write_model_config(folder)
        logger.info("Test results written to %s", folder)

    def _write_model_config(self, folder):
        """What :mod:`speechbrain_protos.export` needs to rebuild the model."""
        checkpoint = self.test_checkpoint_path
        config = model_config(
            self.modules.compute_features,
            self.model,
            self.class_names,
            self.test_mapping.tolist(),
            mode="supervised" if self.supervised else "unsupervised",
            checkpoint=None
            if checkpoint is None
            else os.path.relpath(checkpoint, folder),
        )
        with open(
            os.path.join(folder, MODEL_CONFIG_FILE), "w", encoding="utf-8"
        ) as fout:
            json.dump(config, fout, indent=1)

    def write_stage_report(self, path=None):
        """Best validation scores of every curriculum stage (paper, Table 1).

        Reads the metadata of each stage's kept checkpoints and writes a CSV
        (main process only).

        Arguments
        ---------
        path : str, optional
            Output CSV; default ``<output_folder>/stage_results.csv``.

        Returns
        -------
        list of dict
            One row per stage reached: stage, epoch, OA, AA, L_rec.
        """
        key = self.hparams.best_checkpoint_key
        rows = []
        checkpoints = self.checkpointer.list_checkpoints()
        for stage in dict.fromkeys(self.curriculum.stages):
            in_stage = [c for c in checkpoints if c.meta.get("stage") == stage]
            if not in_stage:
                continue
            best = min(in_stage, key=lambda ckpt: ckpt.meta[key])
            rows.append(
                {
                    name: best.meta[name]
                    for name in ("stage", "epoch", "OA", "AA", "L_rec")
                }
            )
        path = path or os.path.join(self.hparams.output_folder, "stage_results.csv")
        if if_main_process() and rows:
            with open(path, "w", newline="", encoding="utf-8") as fout:
                writer = csv.DictWriter(fout, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        return rows
