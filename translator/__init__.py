"""translator: SentencePiece-tokenized attentional LSTM encoder-decoder for machine translation."""

__version__ = "0.1.0"

from .checkpoint import CheckpointError  # noqa: E402
from .translator import Translator  # noqa: E402

__all__ = ["CheckpointError", "Translator", "__version__"]
