"""translator: SentencePiece-tokenized attentional LSTM encoder-decoder for machine translation.

`Translator` and `CheckpointError` load on first use, so torch-free modules of the package
(`translator.evaluation.metrics`, `translator.evaluation.plot`) can be imported without torch.
"""

__version__ = "0.3.0"

__all__ = ["CheckpointError", "Translator", "__version__"]


def __getattr__(name: str):
    if name == "Translator":
        from translator.inference.translator import Translator

        return Translator
    if name == "CheckpointError":
        from .checkpoint import CheckpointError

        return CheckpointError
    raise AttributeError(f"module 'translator' has no attribute {name!r}")
