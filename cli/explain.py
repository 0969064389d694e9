"""`veredicto explain`: why one text (or sentence pair, `--text-pair`) gets its prediction, as a readable table or as
Attribution JSON (a pair's JSON carries `text_pair` and each token's segment; Integrated Gradients' JSON carries its
completeness check in `extra`: `convergence_delta` per class and `completeness_error`)."""

from __future__ import annotations

import sys
from pathlib import Path

from models.errors import VeredictoError
from models.gradients import BASELINES

METHODS = ("shap", "lime", "ig", "grad_input")  # explain.api.METHODS, without importing the explainers to build the parser
UNITS = {
    "shap": "SHAP values (probability points)",
    "lime": "LIME weights",
    "ig": "Integrated Gradients attributions (probability points)",
    "grad_input": "Gradient x Input attributions",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="Explain one prediction with SHAP, LIME or gradients: the words that pushed it each way.",
        description="Explain one prediction with SHAP, LIME, Integrated Gradients (ig, a fraction of a second) or Gradient x Input "
        "(grad_input). Prints the words that pushed the explained class up and down (or the full Attribution as JSON with --json).",
    )
    parser.add_argument("--model", required=True, type=Path, help="Checkpoint directory (config.json, tokenizer, model.safetensors).")
    parser.add_argument("--text", required=True, help="The text to explain ('-' reads it from standard input).")
    parser.add_argument(
        "--text-pair", default=None, help="The second text, for a checkpoint that reads sentence pairs (NLI, paraphrase, reranking): both are explained."
    )
    parser.add_argument(
        "--task",
        default=None,
        help="single-label or multi-label: overrides what config.json says (many multi-label checkpoints do not set problem_type).",
    )
    parser.add_argument(
        "--method",
        choices=METHODS,
        default="shap",
        help="Explanation method (default: shap). ig: Integrated Gradients on the input embeddings, whose scores add up to the "
        "model's output minus the baseline's; grad_input: Gradient x Input (one backward pass, rough).",
    )
    parser.add_argument(
        "--target", default=None, help="Class (multi-label: label) to explain, by name (default: the predicted class; multi-label: the most probable label)."
    )
    parser.add_argument("--json", action="store_true", help="Print the Attribution as JSON instead of a table.")
    parser.add_argument("--top", type=int, default=8, help="Words to list for and against the class (default: 8).")
    parser.add_argument("--max-evals", type=int, default=None, help="SHAP budget of masked texts (default: 500).")
    parser.add_argument("--num-samples", type=int, default=None, help="LIME perturbed samples (default: 1000).")
    parser.add_argument("--seed", type=int, default=0, help="Random seed (LIME sampling, SHAP tie-breaking).")
    parser.add_argument("--n-steps", type=int, default=None, help="Integrated Gradients' integration points (default: 20; 1 to 1000).")
    parser.add_argument(
        "--baseline", default=None, help=f"Integrated Gradients' reference input: {', '.join(BASELINES)} (default: pad, the padding token's embedding)."
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="Read the explanation from this attribution cache if present, and store it there (default: no cache).",
    )
    parser.set_defaults(func=run)


def _bar(value: float, peak: float, width: int = 20) -> str:
    n = 0 if peak <= 0 else round(abs(value) / peak * width)
    return ("█" * n) or "·"


def format_table(attribution, top: int = 8, trust: list[str] | None = None, multi_label: bool = False) -> str:
    """The human-readable report: prediction, explained class, the strongest words each way, how far to trust them.

    multi_label: the prediction is every label whose own probability is at least 0.5 (the default threshold)."""
    from explain.plots import method_name, top_words

    label = attribution.target
    probs = ", ".join(f"{l} {p:.1%}" for l, p in zip(attribution.labels, attribution.probabilities))
    lines = [f"{title:<13}{text if len(text) <= 160 else text[:157] + '…'}" for title, text in _texts(attribution)]
    predicted = attribution.predicted
    if multi_label:
        predicted = " | ".join(l for l, p in zip(attribution.labels, attribution.probabilities) if p >= 0.5) or "(no label)"
        probs = "each label's own probability: " + probs + "; threshold 0.5"
    lines += [
        f"Prediction:  {predicted} ({probs})",
        f"Explaining:  '{label}' with {method_name(attribution.method)}"
        f" · {attribution.n_model_calls:,} model calls · {attribution.seconds:.2f} s · checkpoint {attribution.fingerprint[:12]}",
    ]
    if attribution.truncated:
        lines.append("Note:        the text is longer than the model reads; only the part it reads is explained.")
    toward, against = top_words(attribution, label, top)
    peak = max([abs(v) for _, v in toward + against] or [0.0])
    unit = UNITS.get(attribution.method, "scores")
    width = max([len(w) for w, _ in toward + against] + [4])
    for title, rows in ((f"Toward '{label}'", toward), (f"Against '{label}'", against)):
        lines.append("")
        lines.append(f"{title}:")
        if not rows:
            lines.append("  (none)")
        for rank, (word, value) in enumerate(rows, 1):
            lines.append(f"  {rank:>2}. {word:<{width}}  {value:+.4f}  {_bar(value, peak)}")
    lines.append("")
    lines.append(f"Scores are {unit} for '{label}'; positive pushes toward it, negative away from it.")
    if trust:
        lines.append("")
        lines.append("How far to trust it:")
        lines.extend(f"  - {sentence}" for sentence in trust)
    return "\n".join(lines)


def _texts(attribution) -> list[tuple[str, str]]:
    if attribution.text_pair is None:
        return [("Text:", attribution.text)]
    return [("Text:", attribution.text), ("Text pair:", attribution.text_pair)]


def run(args) -> int:
    from cli.common import open_predictor
    from explain.api import explain_text
    from models.checkpoints import inspect_checkpoint

    text = sys.stdin.read() if args.text == "-" else args.text
    if args.top < 1:
        raise VeredictoError(f"--top must be at least 1 (got {args.top}).")
    predictor = open_predictor(inspect_checkpoint(args.model, task=args.task), args)
    params = {"max_evals": args.max_evals, "num_samples": args.num_samples, "seed": args.seed, "n_steps": args.n_steps, "baseline": args.baseline}
    params = {k: v for k, v in params.items() if v is not None}
    if args.cache_dir is not None:
        from explain.cache import AttributionCache

        cache = AttributionCache(args.cache_dir)
        if cache.notice:
            print(f"warning: {cache.notice}", file=sys.stderr)
        attribution = cache.get_or_compute(predictor, text if args.text_pair is None else (text, args.text_pair), args.method, args.target, **params)
    else:
        attribution = explain_text(predictor, text, args.method, args.target, text_pair=args.text_pair, **params)
    if args.json:
        print(attribution.to_json())
    else:
        print(format_table(attribution, args.top, trust_sentences(predictor, attribution), multi_label=predictor.ref.multi_label))
    return 0


def trust_sentences(predictor, attribution) -> list[str]:
    """ERASER faithfulness in plain words (a few dozen extra model calls); a note instead when it cannot be measured."""
    from explain.attribution import ExplainError
    from explain.faithfulness import describe_trust, measure_faithfulness

    try:
        return describe_trust(measure_faithfulness(predictor, attribution), None, attribution)
    except ExplainError as exc:
        return [str(exc)]
