"""The paper's coefficient search (config ``search:``) and the design-space study (config ``design_space:``) on one's
own data, one module per job:

- :mod:`~effscale_timm.search.grid`: the (alpha, beta, gamma) triples built at the search's phi, filtered by measured
  MACs, one per network, single-axis networks labelled;
- :mod:`~effscale_timm.search.choice`: successive halving and the choice on validation (P(best), clear or a tie);
- :mod:`~effscale_timm.search.family`: compound families at whole and fractional phi, the members' names, their
  multipliers, where those come from and whose learning rate a member uses;
- :mod:`~effscale_timm.search.steps`: the pipeline's steps with typed arguments (grid, halve, match, choose);
- :mod:`~effscale_timm.search.scaling_law`: error (or cross-entropy) against compute, fitted in log space with a
  robust loss, t intervals, the held-out check, the compute to reach a target;
- :mod:`~effscale_timm.search.curves`: the search's curves, laws per strategy and the curve-level verdict
  (:mod:`effscale_timm.decision`);
- :mod:`~effscale_timm.search.evidence`: when a study cannot conclude (runs near chance level, smoke runs);
- :mod:`~effscale_timm.search.report` and :mod:`~effscale_timm.search.figure`: ``reports/search.md`` and
  ``reports/scaling_law.png``;
- :mod:`~effscale_timm.search.design_space`, :mod:`~effscale_timm.search.design_analysis` and
  :mod:`~effscale_timm.search.design_report`: the design-space study's samples, its analysis (EDFs, the mixture
  regression) and ``reports/design_space.md`` / ``design_space.png``;
- :mod:`~effscale_timm.search.cli`: ``effscale search``'s arguments.
"""
