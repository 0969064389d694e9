"""Checkpoints and the shared inference layer.

`models.checkpoints` finds, validates, fingerprints and safely loads Hugging Face
checkpoint directories; `models.inference.Predictor` is the only place in the
project that runs a model; `models.protocol.InferenceLayer` is what the rest of Veredicto may use of
it (explainers, probes and analysis take an `InferenceLayer`, never the lock or the cache keys);
`models.cost` holds the one `CostEstimate` and duration format that explain, probes and training share.
`models.fairlock` is the first-come-first-served lock that lets sessions take turns on a predictor (and the line
explanation runs wait in, with their place reported).
This package imports only `runtime` (settings and the process-wide caches) from Veredicto.
"""

from models.checkpoints import CheckpointRef, discover_checkpoints, inspect_checkpoint, load_checkpoint
from models.errors import CheckpointError, VeredictoError
from models.inference import Predictor
from models.protocol import InferenceLayer, Usage

__all__ = [
    "CheckpointError",
    "CheckpointRef",
    "InferenceLayer",
    "Predictor",
    "Usage",
    "VeredictoError",
    "discover_checkpoints",
    "inspect_checkpoint",
    "load_checkpoint",
]
