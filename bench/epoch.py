"""Training epochs of the LibriSpeech recipe: feature cache off, on, on + bf16.

Builds the recipe from its own YAML on the LibriSpeech excerpt the tests use
(segment mode, ``--speakers`` readers) in the curriculum's ``filters``
stage, where every transformation is on and most of training happens, and
times ``brain.fit`` epoch by epoch (training pass, validation pass and
checkpoint), with the recipe's DataLoader workers:

* cache off: every epoch reads the audio and computes log-mels;
* cache on (``feature_cache``): the first epoch computes and stores them,
  later ones read them back;
* cache on and ``--precision=bf16`` (networks under autocast, errors in
  float32), reading the cache the run before filled.

Reports each epoch's seconds and the mean of the epochs after the first,
the speedups on those of the cache and of the cache with bf16, and the
cache's size on disk. Prints one JSON line with ``--json``.

``--runs`` picks some of those runs (``off``, ``on``, ``on_bf16``, and
``off_bf16``: the recipe as it is, no cache, with ``--precision=bf16``);
``--device`` runs them on another device (``cuda``); the fused kernel's
backend is the device's default or ``SPEECHBRAIN_PROTOS_KERNEL``.

Example::

    python bench/epoch.py --speakers 128 --epochs 3 --json
    python bench/epoch.py --device cuda --runs off_bf16 --epochs 2 --json
"""

import logging
import os
import tempfile
import time

import speechbrain as sb
from librispeech_recipe import build_recipe, parse_recipe_args, recipe_argument_parser
from report import device_facts, emit, kernel_backend, machine_facts

RUNS = {  # name: (feature cache, precision)
    "off": (False, "fp32"),
    "on": (True, "fp32"),
    "on_bf16": (True, "bf16"),
    "off_bf16": (False, "bf16"),
}
DEFAULT_RUNS = ("off", "on", "on_bf16")


def parse_args(argv=None):
    parser = recipe_argument_parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--epochs", type=int, default=3, help="epochs per run (>= 2 with the cache)"
    )
    parser.add_argument("--frames", type=int, default=96, help="training crop frames")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument(
        "--runs",
        default=",".join(DEFAULT_RUNS),
        help=f"comma-separated runs, in order, from {', '.join(RUNS)}",
    )
    args = parse_recipe_args(parser, argv)
    args.runs = [name for name in args.runs.split(",") if name]
    unknown = [name for name in args.runs if name not in RUNS]
    if unknown or not args.runs:
        parser.error(f"--runs takes names from {', '.join(RUNS)}; got {unknown}")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.epochs < 2 and any(RUNS[name][0] for name in args.runs):
        parser.error("--epochs must be at least 2 (the first one fills the cache)")
    return args


def timed_epochs(args, folder, cache, precision="fp32"):
    """Seconds of each epoch of one run, and the numbers of training and
    validation clips."""
    loader = {"batch_size": args.batch, "num_workers": args.workers}
    hparams, datasets, brain = build_recipe(
        args.data_folder,
        folder,
        {
            "n_speakers": args.speakers,
            "train_crop_frames": args.frames,
            "number_of_epochs": args.epochs,
            "dataloader_options": dict(loader, shuffle=True),
            "test_dataloader_options": dict(loader, shuffle=False),
            "feature_cache": cache,
            "curriculum": {"patience": args.epochs, "max_epochs": args.epochs},
        },
        with_checkpointer=True,
        precision=precision,
        device=args.device,
    )
    starts = []
    start_stage = brain.on_stage_start

    def on_stage_start(stage, epoch=None):
        if stage == sb.Stage.TRAIN:
            starts.append(time.perf_counter())
        return start_stage(stage, epoch)

    brain.on_stage_start = on_stage_start
    brain.init_prototypes(datasets["train"])
    brain.fit(
        hparams["curriculum"],
        datasets["train"],
        datasets["valid"],
        progressbar=False,
        train_loader_kwargs=hparams["dataloader_options"],
        valid_loader_kwargs=hparams["test_dataloader_options"],
    )
    ends = starts[1:] + [time.perf_counter()]
    seconds = [round(end - start, 2) for start, end in zip(starts, ends)]
    return seconds, len(datasets["train"]), len(datasets["valid"])


def cache_files(folder):
    """Number and total bytes of the ``.npy`` entries under ``folder``."""
    sizes = [
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(folder)
        for name in names
        if name.endswith(".npy")
    ]
    return len(sizes), sum(sizes)


def later_mean(seconds):
    """Mean seconds of the epochs after the first."""
    return sum(seconds[1:]) / len(seconds[1:])


def run(args):
    logging.disable(logging.INFO)
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        # every cached run shares one cache: on fills it, on_bf16 reads it back
        cache = os.path.join(tmp, "cache")
        for name in args.runs:
            cached, precision = RUNS[name]
            seconds[name], n_train, n_valid = timed_epochs(
                args, os.path.join(tmp, name), cache if cached else None, precision
            )
        entries, size = cache_files(cache)
    result = {
        "K": args.speakers,
        "train_clips": n_train,
        "valid_clips": n_valid,
        "batch": args.batch,
        "crop_frames": args.frames,
        "workers": args.workers,
        "runs": args.runs,
    }
    for name in args.runs:
        result[f"epoch_s_cache_{name}"] = seconds[name]
    if args.epochs >= 2:
        later = {name: later_mean(seconds[name]) for name in args.runs}
        for name in args.runs:
            result[f"later_epochs_s_{name}"] = round(later[name], 2)
        if "off" in later and "on" in later:
            result["speedup_later_epochs"] = round(later["off"] / later["on"], 2)
        if "off" in later and "on_bf16" in later:
            result["speedup_later_epochs_bf16"] = round(
                later["off"] / later["on_bf16"], 2
            )
    if any(RUNS[name][0] for name in args.runs):
        result["cache_entries"] = entries
        result["cache_mib"] = round(size / 2**20, 1)
    result["kernel"] = kernel_backend(args.device)
    result.update(device_facts(args.device))
    result.update(machine_facts())
    return result


def main(argv=None):
    args = parse_args(argv)
    emit(run(args), args.json, "bench.epoch")


if __name__ == "__main__":
    main()
