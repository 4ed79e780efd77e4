"""Trained generators as things to share (no Kedro): ``generate(source, n, seed=...)`` and
``load_generator(source)`` (``sources``) for a model folder, an MLflow model or a checkpoint; the
:class:`Generator` and ``write_pngs`` (``generator``); the MLflow pyfunc wrapper (``pyfunc``);
synthetic-dataset cards (``cards``); the study in one self-contained HTML file
(``study_report``); seeded sampling (``sampling``); the sampling parameters (``params``). Names load on first use (``cxr_synth.runtime.lazy``): importing the package
imports no torch.
"""

from cxr_synth.runtime.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "generator": ["Generator", "write_pngs"],
        "sources": ["generate", "load_generator"],
    },
)
