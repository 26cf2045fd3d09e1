"""Playable prototypes for SpeechBrain.

An implementation of *A Model You Can Hear: Audio Identification with
Playable Prototypes* (Loiseau et al., ISMIR 2022): K prototype log-mel
spectra, each bent frame by frame by small networks (gain, pitch shift,
low and high frequency filters) to reconstruct an input. The prototype that
reconstructs a clip best is its class or cluster, and every prototype can be
played as sound.
"""

__version__ = "0.1.0"

from speechbrain_protos.environment import CORE_IMPORTS, check_imports

# A torch and torchaudio that do not load together fail here, in one
# paragraph naming the versions found, rather than deep in a linker message.
check_imports(CORE_IMPORTS)
