"""Packaging for speechbrain-protos (import name ``speechbrain_protos``)."""

from setuptools import find_packages, setup

setup(
    name="speechbrain-protos",
    version="0.1.0",
    description=(
        "Playable prototypes for SpeechBrain: audio identification whose "
        "every decision can be looked at and listened to"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["speechbrain_protos", "speechbrain_protos.*"]),
    python_requires=">=3.9",
    install_requires=[
        "speechbrain>=1.1.2,<1.2",
        # torchaudio 2.11 pins torch 2.11 exactly; keep the two together.
        "torch==2.11.*",
        "torchaudio==2.11.*",
        "hyperpyyaml",
        "sentencepiece",
        "pandas",
        "soundfile",
        "numpy",
        # JIT-compiled CPU kernel of the fused reconstruction error.
        "numba>=0.60",
        # Confusion-matrix and prototype figures (PNG).
        "matplotlib",
    ],
    entry_points={
        "console_scripts": ["speechbrain-protos=speechbrain_protos.__main__:main"]
    },
    extras_require={
        # The demo renders notes from a SoundFont: pretty_midi ships the
        # TimGM6mb SoundFont, sf2utils reads its sample zones. The renderer,
        # tinysoundfont, is installed with --no-deps (see the Makefile).
        # sf2utils imports audioop, which Python 3.13 removed.
        "demo": ["pretty_midi", "sf2utils", "audioop-lts; python_version >= '3.13'"],
        # selenium drives Debian's chromium in the gallery's browser test.
        "test": [
            "pytest>=7",
            "selenium>=4.10",
            "pretty_midi",
            "sf2utils",
            "audioop-lts; python_version >= '3.13'",
        ],
        "dev": ["pytest>=7", "ruff"],
    },
)
