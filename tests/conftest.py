import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from tiny import make_tiny_checkpoint  # noqa: E402


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-bert", "bert")


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-roberta", "roberta", labels=("bad", "neutral", "good"))


@pytest.fixture(scope="session")
def tiny_generic(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-generic", "bert", labels=None, seed=1)


@pytest.fixture(scope="session")
def tiny_bert_predictor(tiny_bert):
    from models import Predictor

    return Predictor(str(tiny_bert), device="cpu")


@pytest.fixture(scope="session")
def tiny_roberta_predictor(tiny_roberta):
    from models import Predictor

    return Predictor(str(tiny_roberta), device="cpu")


@pytest.fixture(autouse=True)
def _audit_store_outside_the_home(monkeypatch, tmp_path_factory):
    """No test opens (and so upgrades) the audit store in the Veredicto home, which the app and the demo share: unless a
    test names its own, the store lives in this session's temporary folder (subprocesses inherit the setting)."""
    if not os.environ.get("VEREDICTO_STORE_URL") and not os.environ.get("VEREDICTO_STORE_DIR"):
        monkeypatch.setenv("VEREDICTO_STORE_DIR", str(tmp_path_factory.getbasetemp() / "audit-store"))
    # the same for the results store and attribution cache: what the app and the CLI store goes to this session's folder
    if not os.environ.get("VEREDICTO_CACHE_DIR"):
        monkeypatch.setenv("VEREDICTO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "results-store"))


@pytest.fixture
def forwarded(monkeypatch):
    """How many texts go through any model from now on (the predictor's own counter is per object; a restart makes new ones)."""
    from models.inference import Predictor

    counts: list[int] = []
    real = Predictor._forward

    def counting(self, texts, *args, **kwargs):
        counts.append(len(texts))
        return real(self, texts, *args, **kwargs)

    monkeypatch.setattr(Predictor, "_forward", counting)
    return counts


@pytest.fixture
def tokenized(monkeypatch):
    """How many inputs each tokenization of any predictor got from now on (`_encode`: counting tokens and forwarding both tokenize)."""
    from models.inference import Predictor

    counts: list[int] = []
    real = Predictor._encode

    def counting(self, inputs, **kwargs):
        counts.append(len(inputs))
        return real(self, inputs, **kwargs)

    monkeypatch.setattr(Predictor, "_encode", counting)
    return counts
