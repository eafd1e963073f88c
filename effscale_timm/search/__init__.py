"""The paper's coefficient search on one's own data (config ``search:``), one module per job:

- :mod:`~effscale_timm.search.grid`: the (alpha, beta, gamma) triples at phi = 1 and the filter on measured MACs;
- :mod:`~effscale_timm.search.choice`: successive halving and the choice on validation;
- :mod:`~effscale_timm.search.family`: compound families at phi = 1..K, the members' names and multipliers;
- :mod:`~effscale_timm.search.steps`: the pipeline's steps with typed arguments (grid, match, choose);
- :mod:`~effscale_timm.search.scaling_law`: error against compute, fitted, bootstrapped and checked on a held-out phi;
- :mod:`~effscale_timm.search.report` and :mod:`~effscale_timm.search.figure`: ``reports/search.md`` and
  ``reports/scaling_law.png``;
- :mod:`~effscale_timm.search.cli`: ``effscale search``'s arguments.
"""
