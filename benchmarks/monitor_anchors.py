"""The monitor's decision against the drift detectors MLOps teams run, on the same embeddings and the same nulls.

Usage::

    python benchmarks/monitor_anchors.py --data ../shared/data --out anchors/     # table (markdown + JSON), plot
    python benchmarks/monitor_anchors.py --encoder use-multilingual ...           # the project's text encoder
    python benchmarks/monitor_anchors_report.py anchors/anchors.json --out anchors/  # redraw a saved run

**Methods** (each a statistic of a window W against the reference R, compared with the *same* no-shift draws:
N random splits of R into a W* of the window's size and A* = the rest; a window is over when its permutation
p-value (1 + #{null ≥ x}) / (1 + N) is at most the per-window level q, the same q for every method):

- ``mllmshift``: the monitor's drift terms, linear RJSD of the captions (visual), the questions (text) and the
  answers against A (R without the window's ids), one decision per window: over when some term's p-value is at
  most Šidák's q split over the terms (:mod:`mllmshift.monitor.calibration`);
- ``mmd``: alibi-detect's MMD drift test, faithfully: the (biased) MMD² with a Gaussian kernel whose bandwidth is
  the median pairwise distance of R, on each record's concatenated embeddings (caption, question, answer);
- ``classifier``: a domain classifier's AUROC (NannyML / Evidently style): a ridge-regularised linear
  discriminant between W and A on the top-32 principal components of R, AUROC out of fold (2 folds);
- ``centroid``: Phoenix's Euclidean distance between the embedding centroids of W and A.

**Streams.** LLaVA-Bench COCO (LLaVA-1.5-13B, captions for the images; ``llavabench-shift``): R = the 90-record
ID split; windows of 30 records. *No-shift controls*: 300 windows drawn from the ID split. *Abrupt*: for each of
the 48 shifted scenarios, three windows of that scenario (its 90 records shuffled): delay = the shifted window
(1–3) of the first over, "miss" when none. *Gradual*: the share of shifted records grows 10 %, 20 %, … per
window. *Model swaps* (``alpacaeval-dev48``): R = model A's answers to 300 instructions; the stream is A's
answers to other instructions, then model B's (windows of 50): delay in B's windows (up to 6), against the pair's
length-controlled win-rate gap; the controls are A → A.

Cheap by default (``hashing-bow`` at 256 dimensions, 200 null draws): run it niced. Every draw is seeded.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _checkout import use_checkout  # noqa: E402
from monitor_anchors_report import METHODS, report  # noqa: E402



# ----------------------------------------------------------------------------- statistics
def _rjsd(a: np.ndarray, b: np.ndarray) -> float:
    from mllmshift.estimators.divergence.rjsd import rjsd

    return max(0.0, rjsd(a, b))


def _mmd2(x: np.ndarray, y: np.ndarray, gamma: float) -> float:
    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        return np.exp(-gamma * np.maximum(d, 0.0))

    return float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())


def _auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels.astype(bool)
    n1, n0 = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _classifier(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, lam: float = 1.0) -> float:
    z = np.vstack([x, y])
    lab = np.r_[np.zeros(len(x)), np.ones(len(y))]
    fold = rng.permutation(len(z)) % 2
    scores = np.empty(len(z))
    for f in (0, 1):
        tr, te = fold != f, fold == f
        zt = z[tr] - z[tr].mean(0)
        t = lab[tr] - lab[tr].mean()
        beta = np.linalg.solve(zt.T @ zt + lam * np.eye(z.shape[1]), zt.T @ t)
        scores[te] = (z[te] - z[tr].mean(0)) @ beta
    return _auroc(scores, lab)


class Methods:
    """The four statistics on a reference's embeddings (fields: dict name → R × d arrays)."""

    def __init__(self, ref: dict[str, np.ndarray], fields: tuple[str, ...], seed: int) -> None:
        self.ref, self.fields, self.seed = ref, fields, seed
        joint = np.hstack([ref[f] for f in fields])
        sub = joint[: min(len(joint), 300)]
        d = np.sqrt(np.maximum((sub * sub).sum(1)[:, None] + (sub * sub).sum(1)[None, :] - 2 * sub @ sub.T, 0))
        self.gamma = 1.0 / (2 * float(np.median(d[d > 0])) ** 2)
        mean = joint.mean(0)
        _, _, vt = np.linalg.svd(joint - mean, full_matrices=False)
        self.mean, self.pcs = mean, vt[:32].T

    def joint(self, rows: dict[str, np.ndarray]) -> np.ndarray:
        return np.hstack([rows[f] for f in self.fields])

    def stats(self, a: dict[str, np.ndarray], w: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, object]:
        ja, jw = self.joint(a), self.joint(w)
        return {"mllmshift": {f: _rjsd(a[f], w[f]) for f in self.fields},
                "mmd": _mmd2(ja, jw, self.gamma),
                "classifier": _classifier((ja - self.mean) @ self.pcs, (jw - self.mean) @ self.pcs, rng),
                "centroid": float(np.linalg.norm(ja.mean(0) - jw.mean(0)))}


def _take(rows: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in rows.items()}


def nulls(m: Methods, size: int, n_draws: int, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng([seed, size])
    n = len(next(iter(m.ref.values())))
    out = []
    for _ in range(n_draws):
        perm = rng.permutation(n)
        out.append(m.stats(_take(m.ref, np.sort(perm[size:])), _take(m.ref, np.sort(perm[:size])), rng))
    return out


def decide(null: list[dict[str, object]], stat: dict[str, object], q: float) -> dict[str, bool]:
    """Per method: over at level q (mllmshift: Šidák over its terms)."""
    from mllmshift.monitor.calibration import p_value, term_level

    out = {}
    terms = list(stat["mllmshift"])  # type: ignore[arg-type]
    a = term_level(q, len(terms))
    for t in terms:  # each term at Šidák's share, as the monitor's per-term flags
        out[f"mllmshift.{t}"] = p_value([d["mllmshift"][t] for d in null], stat["mllmshift"][t]) <= a  # type: ignore
    out["mllmshift"] = any(out[f"mllmshift.{t}"] for t in terms)
    for name in METHODS[1:]:
        out[name] = p_value([d[name] for d in null], stat[name]) <= q  # type: ignore[misc]
    return out


# ----------------------------------------------------------------------------- data
def _embed(encoder, cache, texts: list[str]) -> np.ndarray:
    return cache.encode(encoder, texts) if cache is not None else encoder.encode(texts)


def llava(data: Path, encoder, cache) -> tuple[dict[str, np.ndarray], list[str], dict[str, dict[str, np.ndarray]]]:
    from mllmshift.io.llava import read_llava

    responses = data / "llavabench-shift" / "responses" / "llava-v1.5-13b"
    coco = data / "llava-bench-coco"

    def rows(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
        split = read_llava(path, questions=coco / "questions.jsonl", references=coco / "gpt4_answers.jsonl",
                           captions=coco / "captions_boxes.jsonl")
        s = split.samples
        return ({"visual": _embed(encoder, cache, [x.image_text or "" for x in s]),
                 "text": _embed(encoder, cache, [x.question for x in s]),
                 "answer": _embed(encoder, cache, [x.response or "" for x in s])}, [x.id for x in s])

    ref, ids = rows(responses / "llava_bench_coco.jsonl")
    scen = {}
    for p in sorted(responses.glob("llava_bench_coco_*.jsonl")):
        scen[p.stem.removeprefix("llava_bench_coco_")] = rows(p)[0]
    return ref, ids, scen


# ----------------------------------------------------------------------------- runs
def run_llava(args, encoder, cache, q: float) -> dict:
    ref, _, scen = llava(args.data, encoder, cache)
    m = Methods(ref, ("visual", "text", "answer"), args.seed)
    n, size = len(ref["text"]), args.window
    null = nulls(m, size, args.null_draws, args.seed)
    rng = np.random.default_rng([args.seed, 1])
    # no-shift controls: windows of the ID split against the rest (id-excluded A, as the monitor)
    fa = {k: 0 for k in METHODS}
    for _ in range(args.controls):
        perm = rng.permutation(n)
        o = decide(null, m.stats(_take(ref, np.sort(perm[size:])), _take(ref, np.sort(perm[:size])), rng), q)
        for k in METHODS:
            fa[k] += o[k]
    abrupt, gradual = {}, {}
    for name, rows in scen.items():
        perm = rng.permutation(n)
        delays = {}
        for j in range(n // size):
            w = perm[j * size:(j + 1) * size]
            a = np.setdiff1d(np.arange(n), w)  # the reference records of other questions
            o = decide(null, m.stats(_take(ref, a), _take(rows, w), rng), q)
            for k in METHODS:
                if o[k] and k not in delays:
                    delays[k] = j + 1
        abrupt[name] = {k: delays.get(k) for k in METHODS}
        # gradual: share 0.1, 0.2, … of shifted records (questions not in the window's reference part)
        delays = {}
        for j, share in enumerate(np.arange(0.1, 1.01, 0.1)):
            w = np.sort(rng.choice(n, size=size, replace=False))
            shifted = rng.random(size) < share
            win = {f: np.where(shifted[:, None], rows[f][w], ref[f][w]) for f in ref}
            a = np.setdiff1d(np.arange(n), w)
            o = decide(null, m.stats(_take(ref, a), win, rng), q)
            for k in METHODS:
                if o[k] and k not in delays:
                    delays[k] = j + 1
        gradual[name] = {k: delays.get(k) for k in METHODS}
    return {"controls": args.controls, "false_alarms": fa, "abrupt": abrupt, "gradual": gradual}


def pick_models(models: list[str], count: int, how: str) -> list[str]:
    """``count`` models of the LC-sorted list: ``spread`` evenly over it, or ``pairs``: count/2 neighbours
    (i, i + 1) spread evenly, so that close pairs (LC gap ≈ 1) are among the pairs run."""
    if how == "spread":
        return [models[int(i)] for i in np.linspace(0, len(models) - 1, count)]
    starts = np.round(np.linspace(0, len(models) - 2, count // 2)).astype(int)
    return [models[j] for i in starts for j in (i, i + 1)]


def run_swaps(args, encoder, cache, q: float) -> dict:
    board = {r["model"]: float(r["length_controlled_winrate"])
             for r in csv.DictReader((args.data / "alpacaeval-dev48" / "leaderboard.csv").open())}
    results = args.data / "alpacaeval-dev48" / "results"
    models = sorted((m for m in board if (results / m / "model_outputs.json").is_file()), key=board.get)
    picked = pick_models(models, args.models, args.pick)
    outs = {mo: json.loads((results / mo / "model_outputs.json").read_text()) for mo in picked}
    instr = [d["instruction"] for d in outs[picked[0]]]
    x = _embed(encoder, cache, instr)
    ans = {mo: _embed(encoder, cache, [d["output"] or " " for d in outs[mo]]) for mo in picked}
    rng = np.random.default_rng([args.seed, 2])
    n_ref, size, n_win = 300, 50, 6
    rows = []
    for i, a_model in enumerate(picked):
        order = rng.permutation(len(instr))
        r_idx, rest = order[:n_ref], order[n_ref:]
        ref = {"text": x[r_idx], "answer": ans[a_model][r_idx]}
        m = Methods(ref, ("text", "answer"), args.seed)
        null = nulls(m, size, args.null_draws, args.seed + i)
        for b_model in picked:
            if b_model != a_model and rng.random() > args.pair_share:
                continue
            delay: dict[str, int] = {}
            pre: dict[str, bool] = {}
            for j in range(n_win + 2):  # 2 windows of A, then B's
                w = rest[j * size:(j + 1) * size]
                who = a_model if j < 2 else b_model
                a_rows = _take(ref, np.sort(rng.choice(n_ref, n_ref - size, replace=False)))
                o = decide(null, m.stats(a_rows, {"text": x[w], "answer": ans[who][w]}, rng), q)
                for k, over in o.items():
                    if over and j < 2:
                        pre[k] = True  # a false alarm before the swap (kept apart: it does not hide a detection)
                    elif over and k not in delay:
                        delay[k] = j - 1  # 1 = the first of B's windows
            rows.append({"a": a_model, "b": b_model, "gap": abs(board[a_model] - board[b_model]),
                         "delay": {k: delay.get(k) for k in o}, "pre": {k: pre.get(k, False) for k in o}})
    return {"models": picked, "pairs": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--out", type=Path, default=Path("anchors"))
    p.add_argument("--encoder", default="hashing-bow")
    p.add_argument("--dim", type=int, default=256, help="hashing-bow dimensions")
    p.add_argument("--window", type=int, default=30)
    p.add_argument("--null-draws", type=int, default=200)
    p.add_argument("--controls", type=int, default=300)
    p.add_argument("--level", type=float, default=0.05, help="per-window level q (k = 1: ERT = 1/q windows)")
    p.add_argument("--models", type=int, default=12, help="AlpacaEval models spread over the leaderboard")
    p.add_argument("--pick", choices=("spread", "pairs"), default="spread",
                   help="models spread over the leaderboard, or neighbouring pairs spread over it (close pairs)")
    p.add_argument("--pair-share", type=float, default=0.5, help="share of the model pairs run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    use_checkout(args.threads)  # numpy is already imported: its BLAS is limited by thread_limits below
    from mllmshift.threads import thread_limits

    with thread_limits(args.threads):
        run(args)


def run(args: argparse.Namespace) -> None:
    from mllmshift.encoders.cache import EmbeddingCache
    from mllmshift.encoders.pipeline import build_encoder

    encoder = build_encoder(args.encoder, **({"dim": args.dim} if args.encoder == "hashing-bow" else {}))
    cache = EmbeddingCache(Path.home() / ".cache" / "mllmshift")
    t0, c0 = time.perf_counter(), time.process_time()
    res = {"encoder": args.encoder + (f" ({args.dim}-d)" if args.encoder == "hashing-bow" else ""),
           "null_draws": args.null_draws, "level": args.level}
    res["llava"] = run_llava(args, encoder, cache, args.level)
    res["swaps"] = run_swaps(args, encoder, cache, args.level)
    res["wall_s"], res["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "anchors.json").write_text(json.dumps(res, indent=1) + "\n")
    table = report(res, args.level, args.out)
    (args.out / "anchors.md").write_text(table)
    print(table)
    print(f"wall {res['wall_s']:.0f} s, CPU {res['cpu_s']:.0f} s")


if __name__ == "__main__":
    main()
