"""Shared data helpers: manifests, audio pipelines (and later SoundFont
rendering). Dataset-specific preparation lives in the recipes."""
