"""The files the pipeline writes and reads, one module per kind: each kind has one writer and one reader, and the
reader turns any damage into one line naming the file (:class:`~effscale_timm.files.damage.DamagedFileError`).

| kind | module |
|---|---|
| a run's ``final.json`` (:class:`~effscale_timm.files.run_record.RunRecord`) | :mod:`~effscale_timm.files.run_record` |
| a run's ``metrics.csv`` (one row per epoch) | :mod:`~effscale_timm.files.metrics` |
| a run's ``test_predictions.npz`` | :mod:`~effscale_timm.files.predictions` |
| a trained ``model.pt`` | :mod:`~effscale_timm.files.model_file` |
| a trained model's ``hub/`` folder (``model.safetensors``, ``config.json``) | :mod:`~effscale_timm.files.hub_folder` |
| a variant's Grad-CAM ``.npz`` | :mod:`~effscale_timm.files.cam_file` |
| a figure's ``.png`` | :mod:`~effscale_timm.files.figure` |

Everything is written through :func:`effscale_timm.atomic.write_atomic`: a reader sees the old file or the whole new
one. Importing this package imports nothing heavy (torch and matplotlib load in the modules that need them).
"""
