"""The study's report (``effscale report``: ``reports/table1.md`` and its figures), one module per job:

- :mod:`~effscale_timm.report.runs`: run records to one row per variant;
- :mod:`~effscale_timm.report.compare`: the comparator of each compound row and the statistics;
- :mod:`~effscale_timm.report.markdown`: the words and tables;
- :mod:`~effscale_timm.report.figures`: Figure 8 (accuracy against compute) and the Grad-CAM grid (Figure 7);
- :mod:`~effscale_timm.report.stage`: the stage that assembles them, and its arguments.
"""
