"""Use what you fit: load a saved run safely, predict files of any size, serve it over HTTP."""

from tightfit.serve.loading import load, model_folder
from tightfit.serve.predict import PredictSummary, predict_file, predict_frame


def serve(*args, **kwargs):
    """:func:`tightfit.serve.app.serve` (FastAPI and uvicorn load only when serving)."""
    from tightfit.serve.app import serve as run

    return run(*args, **kwargs)


__all__ = ["PredictSummary", "load", "model_folder", "predict_file", "predict_frame", "serve"]
