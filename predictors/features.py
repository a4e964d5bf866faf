"""Learning-curve features and in-estimator scaling shared by the SVR and Q-SVR predictors.

Feature families follow Baker, Gupta, Raskar, Naik, "Accelerating Neural Architecture Search using
Performance Prediction" (ICLR 2018 workshop, arXiv:1705.10823): the partial curve itself, its first
and second differences, and the trial's hyperparameters.  Swift-Hyperband (Garcia Amboage et al.,
EPJ Web Conf. 295, 12005, 2024) uses the curve values alone with MinMax scaling of X and y, which
is the default of the SVR predictor.  Two denoising options were added for the Q-SVR after the
MLPF predictor study of ``benchmarks/predictor_accuracy.py`` (issue #4): a running median over
``median_window`` epochs (single-epoch loss spikes otherwise dominate the few features) and
``curve_points``, which keeps about that many evenly spaced curve values whatever the number e of
known epochs (stride = max(1, e // curve_points); ceil(e / stride) >= curve_points values when
e >= curve_points, all e values otherwise).

Input layout of ``X``: the first ``n_hyperparameters`` columns are numeric hyperparameters (already
encoded by the caller), the remaining columns are the losses of epochs 1..e.
"""
from __future__ import annotations

import numpy as np
from sklearn.preprocessing import MinMaxScaler, QuantileTransformer, StandardScaler

SCALERS = ("minmax", "standard", "quantile", "none")


def running_median(curve: np.ndarray, window: int) -> np.ndarray:
    """Centred running median along axis 1; the ends are padded with the first/last value, so
    only the known epochs are used.  ``window`` is odd; 1 returns the curve unchanged."""
    if window <= 1:
        return curve
    if window % 2 == 0:
        raise ValueError(f"median window must be odd, got {window}")
    half = window // 2
    padded = np.pad(curve, ((0, 0), (half, half)), mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, window, axis=1), axis=2)


def effective_stride(num_epochs: int, stride: int, curve_points: int) -> int:
    """``stride``, or max(1, num_epochs // curve_points) when ``curve_points`` > 0."""
    if curve_points > 0:
        if stride != 1:
            raise ValueError("curve_points > 0 sets the stride itself; leave stride at 1")
        return max(1, num_epochs // curve_points)
    return stride


def curve_features(X: np.ndarray, *, n_hyperparameters: int = 0, first_differences: bool = False,
                   second_differences: bool = False, stride: int = 1, median_window: int = 1,
                   curve_points: int = 0) -> np.ndarray:
    """Feature matrix [curve, first diffs, second diffs, hyperparameters] from raw ``X``.

    The curve is first smoothed by a running median of ``median_window`` epochs; then every
    stride-th value is kept, counted back from the last known epoch (the most informative one),
    with stride = ``stride`` or, when ``curve_points`` > 0, max(1, e // curve_points); the
    differences are taken on the kept values.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (curves x epochs), got shape {X.shape}")
    if X.shape[1] <= n_hyperparameters:
        raise ValueError(f"X has {X.shape[1]} columns but n_hyperparameters={n_hyperparameters} "
                         "leaves no curve values")
    hyper, curve = X[:, :n_hyperparameters], X[:, n_hyperparameters:]
    curve = running_median(curve, median_window)
    stride = effective_stride(curve.shape[1], stride, curve_points)
    if stride > 1:
        curve = curve[:, ::-1][:, ::stride][:, ::-1]
    blocks = [curve]
    if first_differences:
        blocks.append(np.diff(curve, n=1, axis=1))
    if second_differences:
        blocks.append(np.diff(curve, n=2, axis=1))
    blocks.append(hyper)
    return np.hstack(blocks)


def make_scaler(name: str, n_samples: int):
    """A fresh scaler for ``name`` (``none`` -> None).  Quantile uses at most n_samples quantiles."""
    if name == "minmax":
        return MinMaxScaler()
    if name == "standard":
        return StandardScaler()
    if name == "quantile":
        return QuantileTransformer(n_quantiles=max(2, min(50, n_samples)))
    if name == "none":
        return None
    raise ValueError(f"unknown scaler {name!r}; choose one of {', '.join(SCALERS)}")


class CurveModelMixin:
    """Feature extraction + X/y scaling around an inner regressor.

    Subclasses are scikit-learn estimators with the parameters ``n_hyperparameters``,
    ``first_differences``, ``second_differences``, ``stride``, ``median_window``, ``curve_points``
    and ``scaler``; they call
    ``_fit_transform`` in ``fit`` and ``_transform`` / ``_inverse_y`` in ``predict``.
    """

    def _features(self, X) -> np.ndarray:
        return curve_features(X, n_hyperparameters=self.n_hyperparameters,
                              first_differences=self.first_differences,
                              second_differences=self.second_differences, stride=self.stride,
                              median_window=self.median_window, curve_points=self.curve_points)

    def _fit_transform(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float).ravel()
        if X.ndim != 2 or X.shape[0] != y.size:
            raise ValueError(f"X must be (n, e) with n = len(y); got X {X.shape}, y {y.shape}")
        if y.size < 2:
            raise ValueError("need at least 2 training curves")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise ValueError("X and y must be finite")
        self.n_features_in_ = X.shape[1]
        F = self._features(X)
        self.x_scaler_ = make_scaler(self.scaler, y.size)
        self.y_scaler_ = make_scaler(self.scaler, y.size)
        if self.x_scaler_ is not None:
            F = self.x_scaler_.fit_transform(F)
            y = self.y_scaler_.fit_transform(y[:, None]).ravel()
        return F, y

    def _transform(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[None, :]
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} columns, the predictor was fitted on "
                             f"{self.n_features_in_}")
        F = self._features(X)
        return self.x_scaler_.transform(F) if self.x_scaler_ is not None else F

    def _inverse_y(self, y_scaled: np.ndarray) -> np.ndarray:
        y_scaled = np.asarray(y_scaled, dtype=float).ravel()
        if self.y_scaler_ is None:
            return y_scaled
        return self.y_scaler_.inverse_transform(y_scaled[:, None]).ravel()

    def _y_scale(self) -> float:
        """Factor from scaled-y units to original units (for error estimates); 1 if not affine."""
        s = self.y_scaler_
        if s is None:
            return 1.0
        if isinstance(s, MinMaxScaler):
            return float(1.0 / s.scale_[0])
        if isinstance(s, StandardScaler):
            return float(s.scale_[0])
        return 1.0
