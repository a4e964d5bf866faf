"""The classical predictor of the Swift-Hyperband reference workflow, as an explicit baseline.

scikit-learn ``NuSVR()`` with its defaults (RBF kernel, nu = 0.5, C = 1, gamma = "scale"), with
X (partial curves) and y (loss at the rung) MinMax-scaled, as described for the published
Swift-Hyperband + SVR runs (García Amboage et al., CHEP 2023; Wulff et al., QMI 2024; spec §2.4).
The benchmark names it ``nusvr-minmax``; the project's own predictors live in ``predictors``.
"""
from __future__ import annotations

from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.svm import NuSVR


def minmax_nusvr() -> TransformedTargetRegressor:
    return TransformedTargetRegressor(regressor=make_pipeline(MinMaxScaler(), NuSVR()),
                                      transformer=MinMaxScaler())
