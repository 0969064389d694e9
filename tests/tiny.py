"""Tiny checkpoints built from a config in seconds, with no download.

WordPiece (BERT) uses the committed vocabulary in fixtures/; byte-level BPE (RoBERTa)
is trained on a small corpus with `tokenizers`. Weights are random but seeded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = [
    "the film was good and the acting was great",
    "a terrible boring movie with awful actors",
    "I loved this story, it was wonderful!",
    "never again: the worst script of the year",
    "Maria and John enjoyed the funny scenes in Paris",
    "it is not bad, but not great either",
    "Café crème, niño, señor — déjà vu 🎬",
] * 5


def _bert_tokenizer(path: Path):
    from transformers import BertTokenizerFast

    tokens = (FIXTURES / "wordpiece_vocab.txt").read_text(encoding="utf-8").split("\n")
    vocab = {tok: i for i, tok in enumerate(t for t in tokens if t)}
    return BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=128)


def _roberta_tokenizer(path: Path, gpt2: bool = False):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast, RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=400, min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    work = path / "_bpe"
    work.mkdir(parents=True, exist_ok=True)
    bpe.save_model(str(work))
    if gpt2:  # no separator between a pair's two texts
        return GPT2TokenizerFast(vocab=str(work / "vocab.json"), merges=str(work / "merges.txt"), model_max_length=64, pad_token="<pad>")
    return RobertaTokenizerFast(vocab=str(work / "vocab.json"), merges=str(work / "merges.txt"), model_max_length=64)


def make_tiny_checkpoint(
    path: Path, kind: str = "bert", labels: tuple[str, ...] | None = ("negative", "positive"), seed: int = 0, problem_type: str | None = None
) -> Path:
    """Save a random tiny classifier to `path`; labels=None gives generic LABEL_i names.

    `kind`: "bert" (WordPiece, token types), "roberta" (byte-level BPE) or "gpt2" (a tokenizer that cannot mark
    a sentence pair). `problem_type` is written to config.json (e.g. "multi_label_classification").
    """
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        GPT2Config,
        GPT2ForSequenceClassification,
        RobertaConfig,
        RobertaForSequenceClassification,
    )

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = _bert_tokenizer(path) if kind == "bert" else _roberta_tokenizer(path, gpt2=kind == "gpt2")
    common = dict(initializer_range=0.5, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, vocab_size=len(tokenizer))
    label_kw: dict[str, Any]  # config keywords: a count, and with names the two label maps
    if labels is None:
        label_kw = dict(num_labels=2)
    else:
        label_kw = dict(num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    if problem_type is not None:
        label_kw["problem_type"] = problem_type
    if kind == "bert":
        model = BertForSequenceClassification(BertConfig(max_position_embeddings=128, **common, **label_kw))
    elif kind == "gpt2":
        model = GPT2ForSequenceClassification(
            GPT2Config(
                n_embd=32,
                n_layer=2,
                n_head=2,
                n_positions=64,
                vocab_size=len(tokenizer),
                pad_token_id=tokenizer.pad_token_id,
                bos_token_id=0,
                eos_token_id=2,
                **label_kw,
            )
        )
    else:
        model = RobertaForSequenceClassification(
            RobertaConfig(max_position_embeddings=66, pad_token_id=tokenizer.pad_token_id, bos_token_id=0, eos_token_id=2, **common, **label_kw)
        )
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path
