"""hpo: hyperparameter optimisation for particle-physics deep learning, built on Ray Tune.

Library use::

    import hpo
    res = hpo.tune(train, space={"lr": hpo.loguniform(1e-4, 1e-1)}, metric="loss", mode="min",
                   num_samples=8, max_epochs=5, scheduler="asha", search="tpe", seed=0)

Inside ``train(config)`` call ``hpo.report(loss=..., checkpoint=...)`` once per epoch and resume
with ``hpo.get_checkpoint()``.
"""
from .errors import ConfigError, ExperimentStalled
from .results import ExperimentResult
from .reporting import make_report
from .results import load as load_results
from .session import get_checkpoint, report
from .space import choice, grid, loguniform, qloguniform, quniform, randint, uniform
from .tune_api import resume, tune

__all__ = ["tune", "resume", "report", "get_checkpoint", "uniform", "loguniform", "quniform", "qloguniform", "randint",
           "choice", "grid", "ConfigError", "ExperimentStalled", "ExperimentResult", "load_results", "make_report"]
__version__ = "0.1.0"
