"""What Markdown does to the encoder, on the AlpacaEval slice: markers per answer and question–answer cosine.

Usage::

    python benchmarks/text_normalisation.py                          # USE, raw and `normalize: markdown`
    python benchmarks/text_normalisation.py --encoders use-multilingual multilingual-e5-small --limit 200

For each model of ``../shared/data/alpacaeval`` (and the baseline ``gpt4_1106_preview``): its
length-controlled win rate, the mean number of Markdown markers per answer
(:func:`mllmshift.encoders.text_normalisation.count_markdown_markers`), and per encoder the mean cosine
between each instruction and the model's answer to it, once on the raw texts and once with the encoder
option ``normalize: markdown`` (instructions are normalised too). The last rows give the Spearman
correlation across the 12 models of the judge's LC win rate with each cosine column. Embeddings go
through the content cache (``--cache-dir``), so a rerun is fast. This measures what the encoder sees, not
EMI: the estimator comparison with these rows is issue #9 part A's table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "gpt4_1106_preview"


def read_slice(folder: Path, limit: int | None) -> tuple[list[str], dict[str, list[str]], dict[str, float]]:
    """Instructions (in the baseline's order), each model's outputs aligned to them, and LC win rates."""
    def outputs(model: str) -> dict[str, str]:
        rows = json.loads((folder / "results" / model / "model_outputs.json").read_text(encoding="utf-8"))
        return {r["instruction"]: r["output"] for r in rows}

    base = outputs(BASELINE)
    instructions = list(base)[:limit]
    with open(folder / "leaderboard.csv", newline="", encoding="utf-8") as fh:
        lc = {r["model"]: float(r["length_controlled_winrate"]) for r in csv.DictReader(fh)}
    answers = {BASELINE: [base[i] for i in instructions]}
    for model in sorted(p.name for p in (folder / "results").iterdir() if p.name != BASELINE):
        out = outputs(model)
        answers[model] = [out.get(i, "") for i in instructions]
    return instructions, answers, lc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "alpacaeval")
    ap.add_argument("--encoders", nargs="+", default=["use-multilingual"])
    ap.add_argument("--limit", type=int, default=None, help="first N instructions only (default: all 805)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="embedding cache (default: ~/.cache/mllmshift)")
    args = ap.parse_args(argv)
    if not (args.data / "leaderboard.csv").is_file():
        print(f"no AlpacaEval slice under {args.data}", file=sys.stderr)
        return 2

    import numpy as np
    from scipy.stats import spearmanr

    from mllmshift.evaluation.embedding import default_cache_dir
    from mllmshift.encoders.cache import EmbeddingCache
    from mllmshift.encoders.pipeline import build_encoder
    from mllmshift.encoders.text_normalisation import count_markdown_markers
    from mllmshift.threads import choose_threads, thread_limits

    instructions, answers, lc = read_slice(args.data, args.limit)
    cache = EmbeddingCache(args.cache_dir or default_cache_dir())
    choice = choose_threads()
    print(f"threads: {choice.describe()}", file=sys.stderr)
    columns: list[str] = []
    cos: dict[str, dict[str, float]] = {m: {} for m in answers}
    with thread_limits(choice):
        for name in args.encoders:
            for normalize in (None, "markdown"):
                col = f"{name}{' + markdown' if normalize else ''}"
                columns.append(col)
                enc = build_encoder(name, threads=choice.threads, normalize=normalize)
                q = cache.encode(enc, instructions)
                for model, outs in answers.items():
                    print(f"{col}: {model}", file=sys.stderr)
                    a = cache.encode(enc, outs)
                    cos[model][col] = float(np.mean(np.sum(q * a, axis=1)))
    markers = {m: float(np.mean([count_markdown_markers(t) for t in outs])) for m, outs in answers.items()}

    print(f"AlpacaEval slice: {len(instructions)} instructions; mean cosine(instruction, answer) per encoder\n")
    print("| model | LC win rate | markers / answer | " + " | ".join(columns) + " |")
    print("|---|---:|---:|" + "---:|" * len(columns))
    models = sorted((m for m in answers if m != BASELINE), key=lambda m: -lc.get(m, float("nan")))
    for m in [*models, BASELINE]:
        win = "baseline" if m == BASELINE else f"{lc[m]:.1f}"
        print(f"| {m} | {win} | {markers[m]:.1f} | " + " | ".join(f"{cos[m][c]:.3f}" for c in columns) + " |")
    rho = [spearmanr([lc[m] for m in models], [cos[m][c] for m in models])[0] for c in columns]
    print(f"| Spearman ρ (LC win rate, cosine), {len(models)} models | | | "
          + " | ".join(f"{r:+.2f}" for r in rho) + " |")
    print(json.dumps({"instructions": len(instructions), "encoders": args.encoders, "threads": choice.to_dict(),
                      "markers": markers, "cosine": cos, "spearman": dict(zip(columns, rho))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
