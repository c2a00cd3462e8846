"""A trainable per-model quality predictor that plugs into request analysis.

:class:`QualityPredictor` learns, for every model of an outcome table, the probability that the
model answers a prompt well, from cheap text features: signed hashed counts of words, word
bigrams and character 3-5-grams (the last ``tail_chars`` characters, where a prompt's actual
question usually sits), log-scaled and L2-normalised, plus optional embedding features. One
logistic model per table model is fitted by full-batch Adam on an L2-regularised cross-entropy
(soft labels, so graded qualities in [0, 1] work as well as 0/1). Training on a few thousand
prompts takes seconds on a laptop CPU and needs only numpy; the fitted weights save to a small
``.npz`` file.

It implements :class:`~smartroute_llm.features.ComplexityClassifier`: ``classify`` returns the
predicted quality of every model in ``Complexity.model_quality`` (BALANCED and ADAPTIVE use it
in place of the quality tier), and ``1 - mean predicted quality`` as the complexity score.
"""

from __future__ import annotations

import itertools
import json
import re
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from smartroute_llm.errors import ConfigurationError
from smartroute_llm.eval.tables import OutcomeTable
from smartroute_llm.features import Complexity, complexity_class
from smartroute_llm.request import ChatRequest

F32 = npt.NDArray[np.float32]
EmbedFn = Callable[[list[str]], Sequence[Sequence[float]]]
_TOKEN = re.compile(r"\w+|[^\w\s]")
_FORMAT = "smartroute.QualityPredictor/2"
_FORMATS = ("smartroute.QualityPredictor/1", _FORMAT)


def as_embed_fn(embedder: Any) -> EmbedFn:
    """Accept a function ``texts -> vectors``, a LangChain ``Embeddings`` (``embed_documents``)
    or a LlamaIndex embed model (``get_text_embedding_batch``)."""
    for method in ("embed_documents", "get_text_embedding_batch"):
        fn = getattr(embedder, method, None)
        if callable(fn):
            return fn  # type: ignore[no-any-return]
    if callable(embedder):
        return embedder  # type: ignore[no-any-return]
    raise ConfigurationError(
        f"embedding: {type(embedder).__name__} is not usable; pass a function texts -> vectors, "
        "a LangChain Embeddings or a LlamaIndex embed model"
    )


class _Hasher:
    def __init__(self, dim: int, tail_chars: int) -> None:
        self.dim = dim
        self.tail_chars = tail_chars
        self._cache: dict[str, int] = {}

    def _h(self, token: str) -> int:
        v = self._cache.get(token)
        if v is None:
            v = zlib.crc32(token.encode("utf-8"))
            if len(self._cache) < 2_000_000:
                self._cache[token] = v
        return v

    def tokens(self, text: str) -> list[str]:
        low = text.lower()
        words = _TOKEN.findall(low)
        toks = ["w:" + w for w in words]
        toks += ["b:" + a + " " + b for a, b in itertools.pairwise(words)]
        tail = low[-self.tail_chars :]
        for n in (3, 4, 5):
            toks += ["c:" + tail[i : i + n] for i in range(len(tail) - n + 1)]
        tw = _TOKEN.findall(tail)
        toks += ["t:" + w for w in tw]
        toks += ["u:" + a + " " + b for a, b in itertools.pairwise(tw)]
        return toks

    def vector(self, text: str) -> F32:
        toks = self.tokens(text)
        h = np.fromiter((self._h(t) for t in toks), dtype=np.uint32, count=len(toks))
        sign = np.where(h >> np.uint32(31), 1.0, -1.0)
        v = np.bincount((h % self.dim).astype(np.intp), weights=sign, minlength=self.dim)
        v = np.sign(v) * np.log1p(np.abs(v))
        n = float(np.linalg.norm(v))
        return (v / n if n > 0 else v).astype(np.float32)

    def matrix(self, texts: Sequence[str]) -> F32:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = self.vector(t)
        return out


def _sigmoid(z: F32) -> F32:
    out: F32 = (1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))).astype(np.float32)
    return out


class QualityPredictor:
    """Per-model expected quality of a prompt, learned from an outcome table.

    ``dim`` hashed features; ``l2`` regularisation; ``epochs`` full-batch Adam steps;
    ``embedding`` optional extra features (see :func:`as_embed_fn`), scaled by
    ``embedding_weight`` relative to the unit-norm text features. ``learning_rate`` defaults to
    0.5 for the sparse text features alone and 0.1 with dense embedding features, where 0.5 made
    training unstable (cross-validated AIQ 0.831 ± 0.020 against 0.845 at 0.1 on RouterBench).

    ``max_index`` caps the neighbour index: a decision compares the prompt with every indexed
    prompt, so its time grows with the training table. Above ``max_index`` rows the index keeps
    a seeded uniform sample of that many (the logistic model still learns from every row), and
    the cross-validation chooses ``k`` against a pool of the same sample, so ``k`` fits the
    index actually searched. 4,096 rows keep a decision within 2 ms on a 10,791-row table
    with no loss of AIQ (docs/eval.md); ``None`` indexes every row.
    """

    def __init__(
        self,
        *,
        dim: int = 4096,
        l2: float = 1e-2,
        epochs: int = 200,
        learning_rate: float | None = None,
        tail_chars: int = 600,
        embedding: Any = None,
        embedding_weight: float = 1.0,
        neighbours: int | None = None,
        blend: float | None = None,
        cv_folds: int = 3,
        seed: int = 0,
        max_index: int | None = 4096,
    ) -> None:
        if dim < 16 or dim & (dim - 1):
            raise ConfigurationError(f"dim: must be a power of two >= 16, got {dim}")
        if max_index is not None and max_index < 1:
            raise ConfigurationError(
                f"max_index: must be a positive number of rows or None (no cap), got {max_index}"
            )
        self.max_index = max_index
        self.dim = dim
        self.l2 = l2
        self.epochs = epochs
        self.learning_rate = (
            learning_rate if learning_rate is not None else (0.5 if embedding is None else 0.1)
        )
        self.tail_chars = tail_chars
        self.embedding_weight = embedding_weight
        self._embed: EmbedFn | None = None if embedding is None else as_embed_fn(embedding)
        self._hasher = _Hasher(dim, tail_chars)
        self.models: list[str] = []
        self.weights: F32 | None = None
        self.bias: F32 | None = None
        self.embedding_dim = 0
        self.neighbours = neighbours
        self.blend = blend
        self.cv_folds = cv_folds
        self.seed = seed
        self.cv_scores: dict[str, float] = {}
        self._space: F32 | None = None  # unit vectors of the training prompts (kNN)
        self._y: F32 | None = None
        self._cost: F32 | None = None
        self._cost_k = 0
        self._proj: F32 | None = None

    # --- features ---------------------------------------------------------------------------

    def features(self, prompts: Sequence[str]) -> F32:
        x = self._hasher.matrix(prompts)
        if self._embed is None:
            if self.embedding_dim:
                raise ConfigurationError(
                    "this predictor was trained with embedding features; pass the same "
                    "embedding= to QualityPredictor.load"
                )
            return x
        e = np.asarray(self._embed(list(prompts)), dtype=np.float32)
        if e.ndim != 2 or e.shape[0] != len(prompts):
            raise ConfigurationError(
                f"embedding: expected one vector per prompt, got shape {e.shape}"
            )
        if self.embedding_dim and e.shape[1] != self.embedding_dim:
            raise ConfigurationError(
                f"embedding: expected {self.embedding_dim} dimensions, got {e.shape[1]}"
            )
        e /= np.linalg.norm(e, axis=1, keepdims=True) + 1e-12
        out: F32 = np.hstack([x, self.embedding_weight * e]).astype(np.float32)
        return out

    # --- training ---------------------------------------------------------------------------

    def _logistic(self, x: F32, y: F32, epochs: int | None = None) -> tuple[F32, F32]:
        n, d = x.shape
        mean = y.mean(axis=0).clip(1e-3, 1 - 1e-3)
        w = np.zeros((d, y.shape[1]), dtype=np.float32)
        b = np.log(mean / (1 - mean)).astype(np.float32)
        mw, vw = np.zeros_like(w), np.zeros_like(w)
        mb, vb = np.zeros_like(b), np.zeros_like(b)
        b1, b2, eps = 0.9, 0.999, 1e-8
        for t in range(1, (epochs or self.epochs) + 1):
            g = (_sigmoid(x @ w + b) - y) / n
            gw = x.T @ g + self.l2 * w
            gb = g.sum(axis=0)
            mw = b1 * mw + (1 - b1) * gw
            vw = b2 * vw + (1 - b2) * gw * gw
            mb = b1 * mb + (1 - b1) * gb
            vb = b2 * vb + (1 - b2) * gb * gb
            step = self.learning_rate * np.sqrt(1 - b2**t) / (1 - b1**t)
            w -= (step * mw / (np.sqrt(vw) + eps)).astype(np.float32)
            b -= (step * mb / (np.sqrt(vb) + eps)).astype(np.float32)
        return w, b

    def _space_of(self, x: F32) -> F32:
        """The neighbour space: the embedding part when there is one, else the hashed text
        features through a fixed random projection to 256 dimensions (cheap to search)."""
        if self.embedding_dim:
            z = x[:, self.dim :]
        else:
            if self._proj is None:
                rng = np.random.default_rng(12345)
                self._proj = (rng.standard_normal((self.dim, 256)) / 16.0).astype(np.float32)
            z = x[:, : self.dim] @ self._proj
        out: F32 = (z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-12)).astype(np.float32)
        return out

    def fit(self, train: OutcomeTable) -> QualityPredictor:
        """Learn every model's quality (and per-prompt cost) from ``train``.

        Unless given, the number of neighbours and the weight of the neighbour estimate
        against the logistic model are chosen by ``cv_folds``-fold cross-validation on
        ``train`` (Brier score of the quality estimates; squared error of the cost)."""
        x = self.features(train.prompts)
        self.embedding_dim = x.shape[1] - self.dim
        y = train.quality.astype(np.float32)
        cost = train.cost.astype(np.float32)
        z = self._space_of(x)
        n = len(y)
        pool = np.ones(n, dtype=bool)
        if self.max_index is not None and n > self.max_index:
            pool[:] = False
            pool[np.random.default_rng(self.seed + 1).choice(n, self.max_index, replace=False)] = 1
        size = int(pool.sum())
        grid_k = [k for k in (10, 25, 50, 100, 200, 400) if k < 0.5 * size] or [max(1, size // 2)]
        grid_a = (0.0, 0.25, 0.5, 0.75, 1.0)
        if (self.neighbours is None or self.blend is None) and self.cv_folds >= 2 and n >= 20:
            fold = np.random.default_rng(self.seed).permutation(n) % self.cv_folds
            oof_lr = np.zeros_like(y)
            oof_knn = {k: np.zeros_like(y) for k in grid_k}
            oof_cost = {k: np.zeros_like(cost) for k in grid_k}
            for f in range(self.cv_folds):
                te, tr = fold == f, fold != f
                if self.blend is None or self.blend < 1:
                    # half the epochs: the folds only rank settings, and fitting stays < 60 s
                    w, b = self._logistic(x[tr], y[tr], max(1, self.epochs // 2))
                    oof_lr[te] = _sigmoid(x[te] @ w + b)
                near = tr & pool
                sims = z[te] @ z[near].T
                top = np.argsort(-sims, axis=1)[:, : max(grid_k)]
                for k in grid_k:
                    oof_knn[k][te] = y[near][top[:, :k]].mean(axis=1)
                    oof_cost[k][te] = cost[near][top[:, :k]].mean(axis=1)
            ks = [self.neighbours] if self.neighbours is not None else grid_k
            ks = [k for k in ks if k in oof_knn] or grid_k
            as_ = [self.blend] if self.blend is not None else list(grid_a)
            scores = {
                (k, a): float((((1 - a) * oof_lr + a * oof_knn[k] - y) ** 2).mean())
                for k in ks for a in as_
            }
            k_best, a_best = min(scores, key=lambda ka: scores[ka])
            self.neighbours = self.neighbours or k_best
            self.blend = a_best if self.blend is None else self.blend
            cost_err = {k: float(((oof_cost[k] - cost) ** 2).mean()) for k in grid_k}
            self._cost_k = min(cost_err, key=lambda k: cost_err[k])
            self.cv_scores = {f"k={k} a={a}": v for (k, a), v in scores.items()}
        else:
            self.neighbours = self.neighbours or min(100, max(1, size // 2))
            self.blend = 0.0 if self.blend is None else self.blend
            self._cost_k = self.neighbours
        self.weights, self.bias = self._logistic(x, y)
        self.models = list(train.models)
        self._space, self._y, self._cost = z[pool], y[pool], cost[pool]
        return self

    # --- prediction -------------------------------------------------------------------------

    def _fitted(self) -> tuple[F32, F32]:
        if self.weights is None or self.bias is None:
            raise ConfigurationError("QualityPredictor: call fit(table) or load(path) first")
        return self.weights, self.bias

    def predict(self, prompts: Sequence[str]) -> F32:
        """Expected quality, rows = prompts, columns = ``self.models``."""
        return self.predict_all(prompts)[0]

    def predict_all(self, prompts: Sequence[str]) -> tuple[F32, F32 | None]:
        """Expected quality and expected USD cost (``None`` without a neighbour index)."""
        w, b = self._fitted()
        x = self.features(prompts)
        q = _sigmoid(x @ w + b)
        if self._space is None or self._y is None or self._cost is None:
            return q, None
        k = int(self.neighbours or 1)
        kc = int(self._cost_k or k)
        sims = self._space_of(x) @ self._space.T
        kk = min(max(k, kc), sims.shape[1])
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        order = np.take_along_axis(sims, top, axis=1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(top, order, axis=1)
        a = float(self.blend or 0.0)
        if a > 0:
            q = ((1 - a) * q + a * self._y[top[:, :k]].mean(axis=1)).astype(np.float32)
        cost: F32 = self._cost[top[:, :kc]].mean(axis=1).astype(np.float32)
        return q, cost

    def _complexity(self, q: F32, c: F32 | None = None) -> Complexity:
        score = float(min(1.0, max(0.0, 1.0 - float(q.mean()))))
        mq = dict(zip(self.models, q.tolist(), strict=True))
        mc = None if c is None else dict(zip(self.models, c.tolist(), strict=True))
        return Complexity(score, complexity_class(score), {}, mq, mc)

    def classify(self, request: ChatRequest, prompt: str) -> Complexity:
        q, c = self.predict_all([prompt])
        return self._complexity(q[0], None if c is None else c[0])

    def classify_many(self, prompts: Sequence[str]) -> list[Complexity]:
        q, c = self.predict_all(prompts)
        if c is None:
            return [self._complexity(row) for row in q]
        return [self._complexity(row, cr) for row, cr in zip(q, c, strict=True)]

    # --- persistence ------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the fitted weights to a compressed ``.npz`` file."""
        w, b = self._fitted()
        meta = {
            "format": _FORMAT,
            "models": self.models,
            "dim": self.dim,
            "l2": self.l2,
            "epochs": self.epochs,
            "learning_rate": self.learning_rate,
            "tail_chars": self.tail_chars,
            "embedding_dim": self.embedding_dim,
            "embedding_weight": self.embedding_weight,
            "neighbours": self.neighbours,
            "blend": self.blend,
            "cost_neighbours": self._cost_k,
        }
        arrays: dict[str, Any] = {"weights": w.astype(np.float16), "bias": b}
        if self._space is not None and self._y is not None and self._cost is not None:
            arrays.update(space=self._space.astype(np.float16), y=self._y.astype(np.float16),
                          cost=self._cost)
        with Path(path).open("wb") as fh:
            np.savez_compressed(fh, meta=json.dumps(meta), **arrays)

    @classmethod
    def load(cls, path: str | Path, *, embedding: Any = None) -> QualityPredictor:
        p = Path(path)
        if not p.is_file():
            raise ConfigurationError(f"{p}: no such predictor file")
        try:
            with np.load(p, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                w = data["weights"].astype(np.float32)
                b = data["bias"].astype(np.float32)
                index = (
                    (data["space"].astype(np.float32), data["y"].astype(np.float32),
                     data["cost"].astype(np.float32))
                    if "space" in data else None
                )
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigurationError(f"{p}: not a saved QualityPredictor ({exc})") from None
        if meta.get("format") not in _FORMATS:
            raise ConfigurationError(f"{p}: unknown predictor format {meta.get('format')!r}")
        if meta["embedding_dim"] and embedding is None:
            raise ConfigurationError(
                f"{p}: trained with {meta['embedding_dim']}-dimensional embedding features; "
                "pass embedding= (the same embedding model) to load it"
            )
        pred = cls(
            dim=meta["dim"],
            l2=meta["l2"],
            epochs=meta["epochs"],
            learning_rate=meta["learning_rate"],
            tail_chars=meta["tail_chars"],
            embedding=embedding,
            embedding_weight=meta["embedding_weight"],
            neighbours=meta.get("neighbours"),
            blend=meta.get("blend"),
        )
        pred.models = list(meta["models"])
        if index is not None:
            pred._space, pred._y, pred._cost = index
            pred._cost_k = int(meta.get("cost_neighbours") or pred.neighbours or 1)
        pred.embedding_dim = int(meta["embedding_dim"])
        pred.weights, pred.bias = w, b
        return pred
