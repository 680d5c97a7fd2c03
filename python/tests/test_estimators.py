"""vigil's detectors as PyOD detectors and scikit-learn estimators: parameters, clone,
GridSearchCV, fitted state, PyOD's thresholds and probabilities, scikit-learn's own estimator
checks, and non-finite input."""

import math

import numpy as np
import pytest

import vigil

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

DETECTORS = [
    lambda: vigil.IsolationForest(n_trees=20, seed=1, backend="cpu"),
    lambda: vigil.RobustZ(backend="cpu"),
    lambda: vigil.PcaResidual(backend="cpu"),
]


def labelled(n: int = 600, seed: int = 0):
    """Normal Gaussian rows plus 5% far rows, labelled 1."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = np.zeros(n, dtype=int)
    bad = rng.choice(n, n // 20, replace=False)
    x[bad] += rng.choice([-6.0, 6.0], size=(len(bad), 4))
    y[bad] = 1
    return x, y


@pytest.mark.parametrize("make", DETECTORS)
def test_params_clone_and_fitted_state(make):
    det = make()
    params = det.get_params()
    assert {"contamination", "cutoff", "robust_k", "backend", "columns"} <= set(params)
    assert params["contamination"] == 0.01
    twin = clone(det)
    assert twin is not det and twin.get_params() == params
    assert det.set_params(contamination=0.05) is det and det.contamination == 0.05
    with pytest.raises(ValueError):
        det.set_params(no_such_thing=1)
    # Unfitted: no fitted attribute, and check_is_fitted says so.
    assert not [k for k in vars(det) if k.endswith("_") and not k.startswith("__")]
    with pytest.raises(NotFittedError):
        check_is_fitted(det)
    with pytest.raises(NotFittedError):
        det.decision_function(np.zeros((2, 4)))
    x, _ = labelled()
    assert det.fit(x) is det
    check_is_fitted(det)
    assert det.n_features_in_ == 4 and det.decision_scores_.shape == (600,)
    # PyOD: threshold_ is the (1 - contamination) percentile of decision_scores_, labels_ above it.
    assert det.threshold_ == pytest.approx(np.percentile(det.decision_scores_, 95.0))
    np.testing.assert_array_equal(det.labels_, (det.decision_scores_ > det.threshold_).astype(int))
    np.testing.assert_array_equal(det.predict(x), det.labels_)
    np.testing.assert_allclose(det.decision_function(x), det.decision_scores_)
    np.testing.assert_allclose(det.score_samples(x), -det.decision_scores_)  # scikit-learn's sign
    # PyOD's linear predict_proba: min-max of the training scores, clipped.
    lo, hi = det.decision_scores_.min(), det.decision_scores_.max()
    proba = det.predict_proba(x)
    np.testing.assert_allclose(proba[:, 1], (det.decision_scores_ - lo) / (hi - lo), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    unify = det.predict_proba(x, method="unify")[:, 1]
    mu, sd = det.decision_scores_.mean(), det.decision_scores_.std()
    want = np.clip([math.erf((s - mu) / (sd * math.sqrt(2))) for s in det.decision_scores_], 0, 1)
    np.testing.assert_allclose(unify, want, rtol=1e-9, atol=1e-12)
    # A clone of a fitted detector is unfitted with the same parameters.
    fresh = clone(det)
    with pytest.raises(NotFittedError):
        check_is_fitted(fresh)
    assert fresh.get_params() == det.get_params()


def test_robust_cutoff_is_median_plus_k_mad():
    x, _ = labelled()
    det = vigil.RobustZ(cutoff="robust", robust_k=3.5, backend="cpu").fit(x)
    s = det.decision_scores_
    med = np.median(s)
    assert det.threshold_ == pytest.approx(med + 3.5 * 1.4826 * np.median(np.abs(s - med)))
    with pytest.raises(ValueError):
        vigil.RobustZ(cutoff="nope").fit(x)
    with pytest.raises(ValueError):
        vigil.RobustZ(contamination=0.7).fit(x)


def test_grid_search_on_a_labelled_set():
    x, y = labelled(seed=3)
    grid = GridSearchCV(vigil.IsolationForest(n_trees=20, backend="cpu"),
                        {"max_samples": [16, 128], "contamination": [0.01, 0.05]},
                        scoring="f1", cv=KFold(3, shuffle=True, random_state=0))
    grid.fit(x, y)
    # 5% of the rows are the planted anomalies: the 0.95 quantile cut-off finds them best.
    assert grid.best_params_["contamination"] == 0.05
    assert grid.best_score_ > 0.8
    auc = GridSearchCV(vigil.RobustZ(backend="cpu"), {"z_cap": [5.0, 100.0]}, scoring="roc_auc", cv=3).fit(x, y)
    assert auc.best_score_ > 0.95


def test_sklearn_pipeline_and_ensemble_params():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = labelled(seed=4)
    pipe = make_pipeline(StandardScaler(), vigil.RobustZ(contamination=0.05, backend="cpu")).fit(x)
    assert ((pipe.predict(x) == 1) & (y == 1)).sum() >= 25
    ens = vigil.Ensemble([vigil.RobustZ(), vigil.PcaResidual()], backend="cpu")
    assert clone(ens).get_params()["combine"] == "mean"
    assert ens.fit(x).predict(x).sum() > 0


# scikit-learn's outlier-detector checks assume its own conventions where PyOD's differ.
EXPECTED_FAILED = {
    "check_outliers_train": "PyOD convention: predict returns 0/1, not scikit-learn's -1/+1",
    "check_outliers_fit_predict": "PyOD convention: predict returns 0/1, not scikit-learn's -1/+1",
    "check_outlier_contamination": "contamination is PyOD's (0, 0.5] range",
    "check_outlier_corruption": "PyOD convention: predict returns 0/1, not scikit-learn's -1/+1",
    "check_decision_proba_consistency": "PyOD's predict_proba has a method argument and min-max scaling",
    "check_estimators_pickle": "models are never pickled (JSON via save/to_json), so the native model "
                               "does not pickle; GridSearchCV(n_jobs>1) with process workers needs it",
}


@pytest.mark.parametrize("make", DETECTORS)
def test_scikit_learn_estimator_checks(make):
    from sklearn.utils.estimator_checks import check_estimator

    det = make()
    expected = dict(EXPECTED_FAILED)
    if isinstance(det, vigil.PcaResidual):
        expected["check_fit2d_1sample"] = "PCA needs 2 rows and says so with vigil.InputError, not ValueError"
    results = check_estimator(det, expected_failed_checks=expected, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    passed = [r["check_name"] for r in results if r["status"] == "passed"]
    print(f"{type(det).__name__}: scikit-learn estimator checks: {len(passed)} passed, "
          f"{sum(r['status'] == 'xfail' for r in results)} expected failures, "
          f"{sum(r['status'] == 'skipped' for r in results)} skipped")
    assert not failed, failed
    assert len(passed) >= 30


@pytest.mark.parametrize("make", DETECTORS)
def test_non_finite_values_are_nulls(make):
    """A baseline with +-inf and NaN scores like the same baseline with those cells null: the
    model is not poisoned, and scored rows with inf get finite scores."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 3))
    dirty = x.copy()
    dirty[::7, 1] = np.inf
    dirty[3::11, 2] = -np.inf
    dirty[5::13, 0] = np.nan
    clean = dirty.copy()
    clean[~np.isfinite(clean)] = np.nan
    a, b = make().fit(dirty), make().fit(clean)
    test = rng.normal(size=(50, 3))
    test[0, 1] = np.inf
    sa, sb = a.decision_function(test), b.decision_function(test)
    np.testing.assert_array_equal(sa, sb)
    assert np.isfinite(sa).all()
    assert np.isfinite(a.threshold_)


@pytest.mark.parametrize("make", DETECTORS)
def test_arrow_baseline_scores_on_first_read(make):
    """A polars or pyarrow baseline is scored when decision_scores_, threshold_ or labels_ is
    first read, not in fit; the values are those of scoring the baseline (and of a numpy fit,
    which scores in fit)."""
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    x, _ = labelled()
    frame = pl.DataFrame(x, schema=["a", "b", "c", "d"])
    eager = make().fit(x)
    assert "decision_scores_" in vars(eager)  # numpy: scored in fit
    for data in (frame, frame.to_arrow()):
        det = make().fit(data)
        assert not [k for k in ("decision_scores_", "threshold_", "labels_") if k in vars(det)]
        scores = det.decision_function(data)  # scoring does not fill the baseline's attributes
        assert "decision_scores_" not in vars(det)
        np.testing.assert_array_equal(det.decision_scores_, scores)
        np.testing.assert_array_equal(det.decision_scores_, eager.decision_scores_)
        assert det.threshold_ == pytest.approx(np.percentile(scores, 99.0))
        np.testing.assert_array_equal(det.labels_, (scores > det.threshold_).astype(int))
        assert "_pending_baseline" not in vars(det)
    # A refit forgets the first baseline's scores; a threshold set by hand is kept.
    det = make().fit(frame)
    det.threshold_ = 123.0
    assert det.threshold_ == 123.0
    np.testing.assert_array_equal(det.decision_scores_, eager.decision_scores_)
    assert det.threshold_ == 123.0
    det.fit(frame.head(300))
    assert det.decision_scores_.shape == (300,)
