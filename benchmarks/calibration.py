"""Calibration of the report's verdict: thousands of simulated studies through the report's own comparison code
(``effscale_timm.report.compare.compare``, hence ``effscale_timm.decision``), with per-image test predictions and
seed-to-seed variation, printing a table.

    python benchmarks/calibration.py [--studies 4000] [--quick] [--out table.md]

The simulated study is the real one's design (config/full.yaml): 9 arms, B0, B1, the Table 7 depth, width and
resolution models (not at the compound model's compute, so described only), the compound model and three single-axis
models FLOP-matched to it (its matched axes), each with ``n`` seeds. A run is simulated image by image on one fixed
test set: image i has a difficulty d_i ~ N(-2.2, 1.5) on the logit scale (about 83% accuracy), a run has an ability
u ~ N(a_arm, sd_u), and it classifies image i correctly with probability sigmoid(u - d_i): its test top-1 then varies
between seeds both through u and through per-image churn (each image's outcome redrawn per run), as real runs do.

Scenarios: all arms equal (every "better" or "worse" is false), and the compound model better than every matched axis
by the minimum detectable effect that the report states for the design (its MDE at the true seed standard deviation,
measured from 40,000 simulated runs), in accuracy points. The table gives the false better/worse rate with its
Clopper-Pearson 95% interval (Monte-Carlo error) and the power with its interval; the rule promises a false rate of
at most 5% and 80% power at the MDE.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from scipy import optimize, special, stats

from effscale_timm.decision import SIGNIFICANCE, Contrast, Pooled, mde
from effscale_timm.report.compare import compare

# (name, axis, GMACs at the 128 px base as measured, whether it is one of the compound model's matched axes)
ARMS = [('effscale_b0', 'baseline', 0.124), ('effscale_b1', 'compound', 0.166),
        ('effscale_depth_b0', 'depth', 0.42), ('effscale_width_b0', 'width', 0.45),
        ('effscale_resolution_b0', 'resolution', 0.50), ('effscale_compound_b0', 'compound', 0.30),
        ('effscale_depth_matched', 'depth', 0.30), ('effscale_width_matched', 'width', 0.30),
        ('effscale_resolution_matched', 'resolution', 0.30)]
COMPOUND = 'effscale_compound_b0'
MATCHED = ('effscale_depth_matched', 'effscale_width_matched', 'effscale_resolution_matched')


@dataclass(frozen=True)
class Design:
    seeds: int
    images: int
    sd_u: float  # seed-to-seed spread of a run's ability, logit scale


def simulate_top1(rng: np.random.Generator, difficulty: np.ndarray, ability: np.ndarray) -> np.ndarray:
    """Test top-1 (percent) of runs with the given abilities on images of the given difficulties, image by image."""
    p = special.expit(ability[:, None] - difficulty[None, :])
    return 100.0 * (rng.random(p.shape) < p).mean(axis=1)


def study_rows(rng, difficulty, design: Design, shift: Dict[str, float]) -> List[dict]:
    """The rows the report builds from a study's runs (what ``summarize`` gives ``compare``)."""
    rows = []
    for name, axis, gmacs in ARMS:
        top1 = simulate_top1(rng, difficulty, rng.normal(shift.get(name, 0.0), design.sd_u, design.seeds)).tolist()
        rows.append(dict(variant=name, axis=axis, gmacs=gmacs, top1=top1, n_ok=len(top1), mean=float(np.mean(top1)),
                         val_mean=float(np.mean(top1)), resolution=1.0, input_size=128, native_size=320,
                         runs_ok=[]))
    return rows


def verdict_word(rows, margin: float) -> str:
    entry = next(e for e in compare(rows, margin, with_mde=False) if e['compound']['variant'] == COMPOUND)
    return entry['decision'].word if entry['decision'] else 'none'


def true_seed_sd(rng, difficulty, design: Design, runs: int = 40_000) -> float:
    """The seed-to-seed SD of test top-1 (points) from ``runs`` simulated runs, drawn 2,000 at a time (its own
    Monte-Carlo error is about 1/sqrt(2 runs): 0.35% at 40,000, moving the power at the MDE by about 0.2 points)."""
    top1 = np.concatenate([simulate_top1(rng, difficulty, rng.normal(0.0, design.sd_u, min(2000, runs - i)))
                           for i in range(0, runs, 2000)])
    return float(np.std(top1, ddof=1))


def design_mde(design: Design, sd: float) -> float:
    """The MDE the report states for this design when its pooled seed SD equals the true one."""
    n, arms = design.seeds, len(ARMS)
    pooled = Pooled(sd=sd, df=n * arms - arms, n_runs=n * arms, n_arms=arms)
    contrasts = [Contrast(m, 0.0, 2 / n, 1 / n) for m in MATCHED]
    return mde(contrasts, pooled, SIGNIFICANCE / 2)


def logit_shift_for(difficulty: np.ndarray, points: float) -> float:
    """The ability shift that raises expected test top-1 by ``points``."""
    base = 100 * special.expit(-difficulty).mean()
    return optimize.brentq(lambda s: 100 * special.expit(s - difficulty).mean() - base - points, -5, 5)


def rate(count: int, total: int) -> str:
    ci = stats.binomtest(count, total).proportion_ci(0.95, method='exact')
    return f'{count / total:.3f} [{ci.low:.3f}, {ci.high:.3f}]'


def run_design(design: Design, studies: int, margin: float, seed: int) -> Dict[str, object]:
    """False better/worse rate under the null and power at the stated MDE for one design."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(-2.2, 1.5, design.images)
    sd = true_seed_sd(rng, difficulty, design)
    effect = design_mde(design, sd)
    shift = {COMPOUND: logit_shift_for(difficulty, effect)}
    null = [verdict_word(study_rows(rng, difficulty, design, {}), margin) for _ in range(studies)]
    alt = [verdict_word(study_rows(rng, difficulty, design, shift), margin) for _ in range(studies)]
    return dict(design=design, sd=sd, mde=effect, studies=studies, better=null.count('better'),
                worse=null.count('worse'), equivalent=null.count('equivalent'), power=alt.count('better'))


def table(results: List[Dict[str, object]], margin: float) -> str:
    lines = ['| seeds per arm | test images | seed SD (points) | stated MDE (points) | studies | false "better" | '
             f'false "worse" | false better or worse (95% CI) | "equivalent within ±{margin:g}" when equal | power at '
             'the MDE (95% CI) |', '|---|---|---|---|---|---|---|---|---|---|']
    for r in results:
        d, n = r['design'], r['studies']
        lines.append(f'| {d.seeds} | {d.images:,} | {r["sd"]:.3f} | {r["mde"]:.3f} | {n:,} | {r["better"]} | '
                     f'{r["worse"]} | {rate(r["better"] + r["worse"], n)} | {r["equivalent"] / n:.3f} | '
                     f'{rate(r["power"], n)} |')
    return '\n'.join(lines) + '\n'


DESIGNS = [Design(3, 3925, 0.03), Design(5, 3925, 0.03), Design(5, 3925, 0.08), Design(3, 10000, 0.05)]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--studies', type=int, default=4000, help='simulated studies per scenario and design')
    ap.add_argument('--quick', action='store_true', help='one design, 200 studies (seconds; the tests run it)')
    ap.add_argument('--margin', type=float, default=0.5, help='the equivalence margin, points')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default=None, help='also write the table here')
    args = ap.parse_args(argv)
    designs, studies = (DESIGNS[1:2], 200) if args.quick else (DESIGNS, args.studies)
    t0 = time.perf_counter()
    results = [run_design(d, studies, args.margin, args.seed + i) for i, d in enumerate(designs)]
    text = (f'# Calibration of the verdict ({time.perf_counter() - t0:.0f} s)\n\n' + table(results, args.margin))
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
