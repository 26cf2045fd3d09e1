#!/usr/bin/env python3
"""The main job: see and hear playable prototypes, with no download.

1. Renders real sampled instrument notes from a SoundFont (TimGM6mb, shipped
   in the pretty_midi wheel) in the SOL layout, split by SoundFont sample so
   no recording is heard in two splits.
2. Trains this recipe (``hparams/sol.yaml``, or ``sol_unsupervised.yaml``)
   with the demo sizes of ``hparams/demo.yaml``, and tests it.
3. Exports the tested model to a model folder (``PrototypeClassifier``),
   and writes its gallery: every prototype as a WAV and a spectrum, test
   accuracy per class, a few inputs with their reconstructions and timbre
   transfers, on an HTML page to listen to them.

Everything goes to one folder (``results/demo`` at the repository root by
default); the run ends by printing where things are and the test scores.
Running it again reuses the rendered notes and the finished training.

    python demo.py [--output DIR] [--soundfont FILE] [--test-soundfont FILE]
                   [--instruments flute,violin,...] [--epochs N] [--unsupervised]

Authors
 * speechbrain-protos developers 2026
"""

import argparse
import json
import logging
import os
import shutil
import sys
import time

import torch
import yaml
from sol_prepare import prepare_sol

from speechbrain_protos.data.soundfont import (
    add_render_arguments,
    parse_instruments,
    prepare_rendered_dataset,
)
from speechbrain_protos.experiment import run_experiment, setup_experiment
from speechbrain_protos.export import export_model
from speechbrain_protos.gallery import write_gallery
from speechbrain_protos.inference import PrototypeClassifier
from speechbrain_protos.model_folder import RESULTS_FILE

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output",
        default=os.path.join(REPO, "results", "demo"),
        help="output folder (default: results/demo)",
    )
    add_render_arguments(parser)
    parser.add_argument("--epochs", type=int, help="most epochs (default: demo.yaml)")
    parser.add_argument(
        "--unsupervised",
        action="store_true",
        help="cluster without labels (sol_unsupervised.yaml)",
    )
    return parser.parse_known_args(argv)


def start_fresh_if_changed(output, options):
    """Removes old checkpoints when the demo options changed."""
    path = os.path.join(output, "demo_options.json")
    previous = None
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fin:
            previous = json.load(fin)
    if previous != options and os.path.isdir(os.path.join(output, "save")):
        shutil.rmtree(os.path.join(output, "save"))
    os.makedirs(output, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fout:
        json.dump(options, fout, indent=1)


def labelled_test_notes(hparams):
    """``(path, label)`` of every test note, for the gallery."""
    with open(hparams["test_annotation"], encoding="utf-8") as fin:
        entries = json.load(fin)
    return [
        (entry["wav"].format(data_root=hparams["data_folder"]), entry["label"])
        for _, entry in sorted(entries.items())
    ]


def main(argv=None):
    started = time.time()
    # SpeechBrain sets up logging once training starts; until then, show ours.
    logging.basicConfig(level=logging.INFO, format="%(name)s - %(message)s")
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    output = os.path.abspath(args.output)
    instruments = parse_instruments(args.instruments)
    options = {
        "soundfont": args.soundfont,
        "test_soundfont": args.test_soundfont,
        "instruments": sorted(instruments),
        "unsupervised": args.unsupervised,
    }
    start_fresh_if_changed(output, options)
    data = prepare_rendered_dataset(
        os.path.join(output, "data"),
        soundfont=args.soundfont,
        test_soundfont=args.test_soundfont,
        instruments=instruments,
    )
    with open(os.path.join(HERE, "hparams", "demo.yaml"), encoding="utf-8") as fin:
        overrides = yaml.safe_load(fin)
    overrides.update(
        data_folder=data["data_folder"],
        split_folder=data["split_folder"],
        output_folder=output,
        n_classes=len(data["classes"]),
    )
    if args.epochs:
        overrides["number_of_epochs"] = args.epochs
    recipe = "sol_unsupervised.yaml" if args.unsupervised else "sol.yaml"
    hparams, run_opts = setup_experiment(
        [os.path.join(HERE, "hparams", recipe), *extra], extra_overrides=overrides
    )
    prepare_sol(
        data_folder=hparams["data_folder"],
        save_folder=hparams["save_folder"],
        split_folder=hparams["split_folder"],
        seed=hparams["seed"],
    )
    brain = run_experiment(hparams, run_opts)
    model_folder = export_model(output, os.path.join(output, "model"), overwrite=True)
    classifier = PrototypeClassifier.from_hparams(
        source=model_folder, run_opts={"device": brain.device}
    )
    gallery = write_gallery(
        classifier, os.path.join(output, "gallery"), labelled_test_notes(hparams)
    )
    stats = brain.test_stats
    summary = {
        "test": {key: stats[key] for key in ("OA", "AA", "L_rec")},
        "classes": len(data["classes"]),
        "notes": data["counts"],
        "soundfonts": data["soundfonts"],
        "mode": "unsupervised" if args.unsupervised else "supervised",
        "wall_seconds": round(time.time() - started, 1),
        "device": str(brain.device),
        "threads": torch.get_num_threads(),
    }
    with open(os.path.join(output, "summary.json"), "w", encoding="utf-8") as fout:
        json.dump(summary, fout, indent=1)
    print(
        f"""
Playable prototypes: {summary["mode"]}, {summary["classes"]} instruments rendered
from {" -> ".join(data["soundfonts"])} ({data["counts"]["train"]} train, \
{data["counts"]["valid"]} valid, {data["counts"]["test"]} test notes)
  test OA {stats["OA"]:.1f}%   AA {stats["AA"]:.1f}%   L_rec {stats["L_rec"]:.2f} \
(1e3 x MSE per bin)   wall time {summary["wall_seconds"] / 60:.1f} min

  listen and look:   {gallery["index"]}
  prototype sounds:  {os.path.join(output, "gallery", "prototypes")}/
  examples:          {os.path.join(output, "gallery", "examples")}/
  model folder:      {model_folder}
                     (PrototypeClassifier.from_hparams(source=...), or
                     python -m speechbrain_protos classify {model_folder} FILE)
  confusion matrix:  {os.path.join(output, "confusion_matrix.png")}
  results:           {os.path.join(output, RESULTS_FILE)}
  per stage:         {os.path.join(output, "stage_results.csv")}
  training log:      {os.path.join(output, "train_log.txt")}
"""
    )


if __name__ == "__main__":
    main()
