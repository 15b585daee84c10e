"""DeepLog-style next-template model over template-id sequences (TensorFlow/Keras).

DeepLog (Du et al., CCS 2017): an LSTM reads the last `h` template ids of a
session and predicts the next one; an event whose template is not among the
top-`g` predictions is a deviation. A window's sequence score is the share of
its events that deviate.

Inference does not go through Keras' eager `__call__` (about 40 ms a call on
this hardware): after training, the weights are copied out and the forward
pass runs in NumPy, batched. The model is small (embedding 16, one LSTM of
64 units), so a NumPy pass over a batch of windows is a handful of matrix
products per step, and one window costs well under a millisecond. The Keras
model is kept in the object for retraining and inspection and is pickled with
the bundle (Keras 3 models pickle; DESIGN.md).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

BIG_BATCH = 2048  # from this many windows on, matrix products use every core (small ones stay on one)
FLAG_CACHE = 200_000   # (history, next) answers kept by deviations()
PAD = 0   # index 0 pads short histories
UNK = 1   # index 1 is any template not seen in training


@dataclass
class SequenceConfig:
    history: int = 10      # h: how many previous templates the LSTM reads
    top_g: int = 9         # g: a next template among the top g predictions is normal
    embedding: int = 16
    units: int = 64
    epochs: int = 3
    batch_size: int = 512
    max_vocab: int = 2000
    max_train_windows: int = 200_000


@dataclass
class SequenceModel:
    """Vocabulary, Keras model and the NumPy weights used for inference."""

    config: SequenceConfig = field(default_factory=SequenceConfig)
    vocab: dict[str, int] = field(default_factory=dict)
    keras_model: object = None
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    history_loss: list[float] = field(default_factory=list)

    # -- data ------------------------------------------------------------
    def encode(self, template_ids: Sequence[str]) -> np.ndarray:
        get = self.vocab.get
        return np.fromiter((get(t, UNK) for t in template_ids), dtype=np.int32, count=len(template_ids))

    def windows(self, seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(histories [n, h], next ids [n]) for every position of a session."""
        h = self.config.history
        padded = np.concatenate([np.full(h, PAD, dtype=np.int32), seq])
        idx = np.arange(len(seq))[:, None] + np.arange(h)[None, :]
        return padded[idx], seq

    # -- training --------------------------------------------------------
    def fit(self, sessions: Sequence[Sequence[str]], progress: Callable[[int, float], None] | None = None) -> "SequenceModel":
        """Learn the vocabulary and train the LSTM on normal sessions."""
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras

        counts: dict[str, int] = {}
        for s in sessions:
            for t in s:
                counts[t] = counts.get(t, 0) + 1
        top = sorted(counts, key=counts.__getitem__, reverse=True)[: self.config.max_vocab - 2]
        self.vocab = {t: i + 2 for i, t in enumerate(top)}
        xs, ys = [], []
        for s in sessions:
            if s:
                x, y = self.windows(self.encode(s))
                xs.append(x)
                ys.append(y)
        if not xs:
            raise ValueError("no sessions to train the sequence model on")
        x = np.concatenate(xs)
        y = np.concatenate(ys)
        if len(x) > self.config.max_train_windows:
            pick = np.random.default_rng(0).choice(len(x), self.config.max_train_windows, replace=False)
            x, y = x[pick], y[pick]
        n_classes = len(self.vocab) + 2
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.layers.Input(shape=(self.config.history,), dtype="int32"),
            keras.layers.Embedding(n_classes, self.config.embedding),
            keras.layers.LSTM(self.config.units),
            keras.layers.Dense(n_classes),
        ])
        model.compile(optimizer=keras.optimizers.Adam(3e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

        class _Progress(keras.callbacks.Callback):
            def on_epoch_end(cb_self, epoch, logs=None):  # noqa: N805
                loss = float((logs or {}).get("loss", float("nan")))
                self.history_loss.append(loss)
                if progress:
                    progress(epoch + 1, loss)

        model.fit(x, y, epochs=self.config.epochs, batch_size=self.config.batch_size, verbose=0,
                  callbacks=[_Progress()])
        self.keras_model = model
        self._extract_weights()
        return self

    def _extract_weights(self) -> None:
        emb, lstm, dense = (layer for layer in self.keras_model.layers)
        kernel, recurrent, bias = lstm.get_weights()
        w_out, b_out = dense.get_weights()
        self.weights = {"emb": emb.get_weights()[0], "kernel": kernel, "recurrent": recurrent, "bias": bias,
                        "w_out": w_out, "b_out": b_out}

    # -- inference -------------------------------------------------------
    def _inference_tables(self) -> dict[str, np.ndarray]:
        """Weights rearranged for speed: embedding x kernel precomputed per template id, and
        gates reordered from Keras' (i, f, c, o) to (i, f, o, c) so one sigmoid covers three."""
        tables = self.__dict__.get("_tables")
        if tables is None:
            w, u = self.weights, self.config.units
            order = np.r_[0:2 * u, 3 * u:4 * u, 2 * u:3 * u]
            tables = {"xw": (w["emb"] @ w["kernel"] + w["bias"])[:, order].astype(np.float32),
                      "rec": w["recurrent"][:, order].astype(np.float32),
                      "w_out": w["w_out"], "b_out": w["b_out"]}
            self.__dict__["_tables"] = tables
        return tables

    def logits(self, histories: np.ndarray) -> np.ndarray:
        """Forward pass in NumPy: [n, h] ids -> [n, classes] logits."""
        t = self._inference_tables()
        u = self.config.units
        xw = t["xw"][histories]                      # [n, h, 4u]: embedding and input kernel in one lookup
        rec = t["rec"]
        n = histories.shape[0]
        hs = np.zeros((n, u), dtype=np.float32)
        cs = np.zeros((n, u), dtype=np.float32)
        for step in range(histories.shape[1]):
            z = xw[:, step, :] + hs @ rec
            ifo = _sigmoid(z[:, :3 * u])
            cs = ifo[:, u:2 * u] * cs + ifo[:, :u] * np.tanh(z[:, 3 * u:])
            hs = ifo[:, 2 * u:] * np.tanh(cs)
        return hs @ t["w_out"] + t["b_out"]

    def deviations(self, histories: np.ndarray, nexts: np.ndarray) -> np.ndarray:
        """True where the next template is not among the top-g predictions (or unknown).

        Logs repeat themselves (periodic tasks, the same request flow again and again), so
        most (history, next) pairs of a batch were seen before: each distinct pair is scored
        once, and its answer kept in a bounded cache, which saves most of the forward passes
        of a stream (the answer is a pure function of the pair, so nothing changes but time).
        """
        if len(histories) == 0:
            return np.zeros(0, dtype=bool)
        rows = np.column_stack([histories, nexts]).astype(np.int32, copy=False)
        unique, inverse = np.unique(rows, axis=0, return_inverse=True)
        cache = self.__dict__.setdefault("_flags", {})
        keys = [r.tobytes() for r in unique]
        flags = np.fromiter((cache.get(k, 2) for k in keys), dtype=np.int8, count=len(keys))
        todo = np.flatnonzero(flags == 2)
        if len(todo):
            fresh = self._deviations(unique[todo, :-1], unique[todo, -1])
            flags[todo] = fresh
            if len(cache) + len(todo) > FLAG_CACHE:
                cache.clear()
            cache.update(zip((keys[i] for i in todo), fresh.tolist()))
        return flags[inverse.reshape(-1)].astype(bool)

    def _deviations(self, histories: np.ndarray, nexts: np.ndarray) -> np.ndarray:
        if len(histories) >= BIG_BATCH:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=os.cpu_count() or 1, user_api="blas"):  # big batches: all cores
                logits = self.logits(histories)
        else:
            logits = self.logits(histories)
        g = min(self.config.top_g, logits.shape[1])
        target = logits[np.arange(len(nexts)), nexts]
        rank = (logits > target[:, None]).sum(axis=1)   # how many classes beat the true next one
        return (rank >= g) | (nexts == UNK)

    def score_sessions(self, sessions: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Per-event deviation flags for each session, computed in one batch."""
        parts, sizes = [], []
        for s in sessions:
            x, y = self.windows(self.encode(s))
            parts.append((x, y))
            sizes.append(len(y))
        if not parts:
            return []
        flags = self.deviations(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        out, start = [], 0
        for n in sizes:
            out.append(flags[start:start + n])
            start += n
        return out

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_tables", None)  # derived; rebuilt on first use
        state.pop("_flags", None)   # a cache of answers
        return state


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)
