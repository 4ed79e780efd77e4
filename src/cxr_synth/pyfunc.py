"""Kept for MLflow models logged before ``cxr_synth.sharing`` was a package: nothing in the project
imports this module.

Every generator model the synthesis stage logs holds a models-from-code file,
``generator_model.py``, that MLflow runs when it loads the model. Models logged before the move
recorded ``from cxr_synth.pyfunc import GeneratorPyfunc`` there (those logged since record
``cxr_synth.sharing.pyfunc``); this path keeps them loading with ``mlflow.pyfunc.load_model``
(``cxr_synth.generate`` reads the model's files and runs none of its code).
tests/sharing/test_pyfunc.py loads such a model.
"""

from cxr_synth.sharing.pyfunc import GeneratorPyfunc

__all__ = ["GeneratorPyfunc"]
