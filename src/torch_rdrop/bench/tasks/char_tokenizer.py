"""A character :class:`~torch_rdrop.bench.tasks.text.Vocab` as a Hugging Face fast tokenizer.

:func:`char_tokenizer` turns the vocabulary of a
:class:`~torch_rdrop.bench.tasks.text.CharLMEncoder` into a ``PreTrainedTokenizerFast`` that gives
the ids the language model read in pretraining: ``<bos>`` first, then one id per character,
whitespace dropped (as :func:`~torch_rdrop.bench.tasks.text.char_tokens` does, with Python's
``str.isspace``), ``<unk>`` for a character outside the vocabulary, ``<pad>`` to pad on the right.
Text that spells a special token (``"<pad>"``) is read as its characters, as the encoder reads
it. The tokenizer saves with ``save_pretrained`` and loads back with ``AutoTokenizer``.

>>> from torch_rdrop.bench.tasks.text import Vocab
>>> vocab = Vocab(("<pad>", "<unk>", "<bos>", "<eos>", "很", "好"))
>>> tokenizer = char_tokenizer(vocab)
>>> tokenizer(["很 好！", "好"], padding=True)["input_ids"]
[[2, 4, 5, 1], [2, 5, 0, 0]]
>>> tokenizer.decode([2, 4, 5], skip_special_tokens=True)
'很好'
"""

from __future__ import annotations

from typing import Any

from torch_rdrop.bench.tasks.text import CharLMEncoder, Vocab

__all__ = ["SPECIALS", "WHITESPACE_GAP", "char_tokenizer"]

#: The special tokens of a character LM vocabulary, at ids 0 to 3.
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
#: Characters Python's ``str.isspace`` counts as whitespace and the ``tokenizers`` library (the
#: Unicode White_Space property) does not: the four information separators U+001C to U+001F.
WHITESPACE_GAP = "".join(
    chr(c) for c in range(0x20) if chr(c).isspace() and chr(c) not in " \t\n\r\x0b\x0c"
)


def char_tokenizer(vocab: Vocab, max_length: int = 128) -> Any:
    """A fast tokenizer with ``vocab``'s ids that prepends ``<bos>`` and cuts at ``max_length``.

    ``vocab`` must start with ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>`` (as a fitted
    :class:`~torch_rdrop.bench.tasks.text.CharLMEncoder`'s does) and hold single characters after
    them.
    """
    from torch_rdrop.integrations import require

    transformers = require("transformers", "bench")
    tk = require("tokenizers", "bench")
    if not isinstance(vocab, Vocab):
        raise TypeError(f"vocab must be a Vocab, got {type(vocab).__name__}")
    if vocab.tokens[: len(SPECIALS)] != SPECIALS:
        raise ValueError(f"vocab must start with {SPECIALS}, got {vocab.tokens[: len(SPECIALS)]}")
    long = [t for t in vocab.tokens[len(SPECIALS) :] if len(t) != 1 or t.isspace()]
    if long:
        raise ValueError(
            f"vocab must hold single non-space characters after the specials, got {long[:5]}"
        )
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length must be an integer >= 2, got {max_length!r}")
    ids = {token: i for i, token in enumerate(vocab.tokens)}
    core = tk.Tokenizer(tk.models.WordLevel(ids, unk_token="<unk>"))
    core.normalizer = tk.normalizers.Replace(tk.Regex(f"[{WHITESPACE_GAP}]"), " ")
    core.pre_tokenizer = tk.pre_tokenizers.Sequence(
        [
            tk.pre_tokenizers.WhitespaceSplit(),
            tk.pre_tokenizers.Split(tk.Regex("."), behavior="isolated"),
        ]
    )
    core.post_processor = tk.processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", CharLMEncoder.BOS)]
    )
    core.decoder = tk.decoders.Fuse()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        model_max_length=max_length,
        padding_side="right",
        truncation_side="right",
        split_special_tokens=True,  # "<pad>" in a text is five characters, as the encoder reads it
    )
