"""The retraining job's pure parts: the held-back slice and the labelled-set score."""
from __future__ import annotations

from config.settings import ControlSettings, Settings
from consumers.trainer import holdout_split, labelled_score
from engine.training import load_inputs, train
from producers.sim_dataset import make_dataset
from schemas.log_event import LogEvent


def test_holdout_is_the_latest_slice_by_event_time():
    events = [LogEvent(message=str(i), raw=str(i), timestamp=float(t)) for i, t in enumerate([5, 1, 4, 2, 3])]
    fit, held = holdout_split(events, 0.4)
    assert [e.timestamp for e in fit] == [1.0, 2.0, 3.0] and [e.timestamp for e in held] == [4.0, 5.0]


def test_labelled_score_only_when_a_labelled_set_is_configured(tmp_path):
    settings = Settings()
    assert labelled_score(settings, bundle=None) is None
    labels = make_dataset(tmp_path / "ds", tests=3, hosts=2, minutes=5, seed=2)
    bundle = train(load_inputs([str(tmp_path / "ds")], str(labels)), epochs=1)
    settings.control = ControlSettings(eval_dataset=tmp_path / "ds")
    score = labelled_score(settings, bundle)
    assert score is not None and 0.0 <= score <= 2.0
