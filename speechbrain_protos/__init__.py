"""Playable prototypes for SpeechBrain.

An implementation of *A Model You Can Hear: Audio Identification with
Playable Prototypes* (Loiseau et al., ISMIR 2022): K prototype log-mel
spectra, each bent frame by frame by small networks (gain, pitch shift,
low and high frequency filters) to reconstruct an input. The prototype that
reconstructs a clip best is its class or cluster, and every prototype can be
played as sound.
"""

__version__ = "0.1.0"

import os

# OpenMP threads that sleep when they run out of work instead of spinning.
# On a shared CPU (DataLoader workers, a second job, a busy cluster node) a
# spinning thread holds a core that a descheduled sibling needs, and every
# parallel region waits for the slowest: our training step went from 0.5 s
# alone to 1.3-7 s beside a two-thread torch job. It applies to every
# OpenMP runtime loaded after this line: numba's always (it starts with the
# first kernel), torch's when this package is imported before torch (the
# recipes and the CLI do). A policy already in the environment wins; on a
# dedicated machine OMP_WAIT_POLICY=ACTIVE is faster (bench/README.md,
# "Sharing the CPU").
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from speechbrain_protos.environment import CORE_IMPORTS, check_imports  # noqa: E402

# A torch and torchaudio that do not load together fail here, in one
# paragraph naming the versions found, rather than deep in a linker message.
check_imports(CORE_IMPORTS)
