"""An optional offline sentence encoder for the trained predictor (the ``embed`` extra).

:class:`WordLlamaEncoder` wraps ``wordllama`` (MIT; 256-dimensional static token embeddings
shipped inside the wheel, numpy only, about 0.5 ms for a 100-word prompt). Its plain ``load()``
would try to download the tokenizer; here the tokenizer file bundled in the wheel is placed
under a private cache directory and the model is loaded with ``disable_download=True``, so
nothing is ever fetched at run time.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from smartroute_llm.errors import ConfigurationError

_TOKENIZER = "l2_supercat_tokenizer_config.json"


@lru_cache(maxsize=4)
def _load(config: str, dim: int) -> Any:
    try:
        import wordllama  # type: ignore[import-not-found,import-untyped,unused-ignore]
        from wordllama import WordLlama
    except ImportError:
        raise ConfigurationError(
            "embedding: wordllama is not installed; pip install 'smartroute-llm[embed]' or train "
            "the predictor without embeddings"
        ) from None
    bundled = Path(wordllama.__file__).parent / "tokenizers" / _TOKENIZER
    if not bundled.is_file():
        raise ConfigurationError(f"embedding: {bundled} is missing from the wordllama wheel")
    cache = Path(tempfile.gettempdir()) / "smartroute-wordllama"
    target = cache / "tokenizers" / _TOKENIZER
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{id(target)}.tmp")
        shutil.copyfile(bundled, tmp)
        tmp.replace(target)
    return WordLlama.load(config=config, dim=dim, cache_dir=cache, disable_download=True)


class WordLlamaEncoder:
    """``texts -> vectors`` with wordllama, offline. Pass it as ``QualityPredictor(embedding=)``.

    ``tail_chars`` keeps the end of long prompts, where the actual question usually sits."""

    name = "wordllama/l2_supercat_256"

    def __init__(self, *, config: str = "l2_supercat", dim: int = 256,
                 tail_chars: int = 2000) -> None:
        self.config = config
        self.dim = dim
        self.tail_chars = tail_chars
        self._model = _load(config, dim)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        batch = [t[-self.tail_chars :] if len(t) > self.tail_chars else t for t in texts]
        out: np.ndarray = np.asarray(self._model.embed(batch, norm=True), dtype=np.float32)
        return out


def available() -> bool:
    """Whether the optional encoder can be loaded here."""
    try:
        _load("l2_supercat", 256)
    except ConfigurationError:
        return False
    return True
