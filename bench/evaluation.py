"""Test-set pass of the LibriSpeech recipe: batched with masks vs one by one.

Prepares the recipe's manifests from a LibriSpeech folder (default: the
tests' LibriSpeech excerpt, ``shared/data/LibriSpeech``, one utterance per reader,
segment mode), builds the recipe's ``PrototypeBrain`` from its own YAML
(untrained: speed does not depend on the weights), and times
``brain.evaluate`` on the test set twice (the pass over the clips; the
report files written at its end are not counted): full-length clips in batches of
``--batch`` (padding and relative lengths, as the recipe runs it) and one
clip at a time (batch 1, as the authors' code evaluates). Both passes must
give the same scores. A third pass is batched with ``--eval_precision=bf16``
(the networks under autocast, the errors in float32). Each pass is also
split into its parts: front end, networks, kernel, and the rest (reading
audio, padding, metrics). Prints one JSON line with ``--json``.

Example::

    python bench/evaluation.py --speakers 128 --batch 32 --json
"""

import logging
import tempfile
import time

from librispeech_recipe import build_recipe, parse_recipe_args, recipe_argument_parser
from report import emit, machine_facts

import speechbrain_protos.lobes as lobes


def parse_args(argv=None):
    return parse_recipe_args(recipe_argument_parser(__doc__.split("\n\n")[0]), argv)


class Stopwatch:
    """Replaces ``owner.name`` by a wrapper that adds up its seconds; the
    original comes back on ``restore``."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name
        self.wrapped = getattr(owner, name)
        self.had_own = name in vars(owner)  # else it comes from the class
        self.seconds = 0.0
        setattr(owner, name, self)

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.wrapped(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start

    def restore(self):
        if self.had_own:
            setattr(self.owner, self.name, self.wrapped)
        else:
            delattr(self.owner, self.name)


def timed_test_pass(brain, test_set, batch_size):
    """Seconds of the pass over the test clips (without writing the report
    files at its end), the seconds of its parts, and the scores.

    The parts: the front end (log-mels), the networks (encoder and
    decoders), the reconstruction-error kernel, and the rest (reading and
    padding audio, metrics, the Brain's loop)."""
    watches = {
        "front_end": Stopwatch(brain.modules.compute_features, "forward"),
        "networks": Stopwatch(brain.modules.model, "_predict"),
        "kernel": Stopwatch(lobes, "reconstruction_errors"),
    }
    reached_end = []
    write_report = brain.on_stage_end

    def on_stage_end(*args, **kwargs):
        reached_end.append(time.perf_counter())
        return write_report(*args, **kwargs)

    brain.on_stage_end = on_stage_end
    try:
        start = time.perf_counter()
        brain.evaluate(
            test_set,
            test_loader_kwargs={"batch_size": batch_size, "num_workers": 0},
            progressbar=False,
        )
    finally:
        for watch in watches.values():
            watch.restore()
        del brain.on_stage_end
    seconds = reached_end[0] - start
    parts = {name: watch.seconds for name, watch in watches.items()}
    parts["rest"] = seconds - sum(parts.values())
    return seconds, parts, dict(brain.test_stats)


def run(args):
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        overrides = {"n_speakers": args.speakers}
        _, datasets, brain = build_recipe(args.data_folder, tmp, overrides)
        test_set = datasets["test"]
        timed_test_pass(brain, test_set, args.batch)  # warm-up (numba compiles)
        batched_s, batched_parts, batched = timed_test_pass(brain, test_set, args.batch)
        single_s, single_parts, single = timed_test_pass(brain, test_set, 1)
        _, _, bf16_brain = build_recipe(
            args.data_folder, tmp, overrides, precision="bf16"
        )
        timed_test_pass(bf16_brain, test_set, args.batch)  # warm-up
        bf16_s, bf16_parts, _ = timed_test_pass(bf16_brain, test_set, args.batch)
        seconds = sum(entry["duration"] for entry in test_set.data.values())
    passes = {
        "batched": batched_parts,
        "one_by_one": single_parts,
        "batched_bf16": bf16_parts,
    }
    return {
        "clips": len(test_set),
        "audio_s": round(seconds, 1),
        "K": args.speakers,
        "batch": args.batch,
        "batched_s": round(batched_s, 3),
        "one_by_one_s": round(single_s, 3),
        "speedup": round(single_s / batched_s, 2),
        "batched_bf16_s": round(bf16_s, 3),
        "speedup_bf16": round(single_s / bf16_s, 2),
        "kernel_s_batched": round(batched_parts["kernel"], 3),
        "kernel_s_one_by_one": round(single_parts["kernel"], 3),
        "parts_s": {
            part: {name: round(parts[part], 3) for name, parts in passes.items()}
            for part in batched_parts
        },
        "same_scores": all(
            abs(batched[key] - single[key]) <= 1e-6 * max(1.0, abs(single[key]))
            for key in ("OA", "AA")
        ),
        "L_rec_batched": batched["L_rec"],
        "L_rec_one_by_one": single["L_rec"],
        **machine_facts(),
    }


def main(argv=None):
    args = parse_args(argv)
    emit(run(args), args.json, "bench.evaluation")


if __name__ == "__main__":
    main()
