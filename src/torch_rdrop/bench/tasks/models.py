"""The benchmark's models, each with its dropout probability as a parameter.

From scratch: :class:`TextCNN`, :class:`BiLSTMClassifier`, :class:`BiLSTMTagger`,
:class:`ImageCNN`, :class:`MLP`. Pretrained: :func:`minilm_classifier`, :func:`minilm_tagger`
(all-MiniLM-L6-v2 from its PyPI package, fresh head). From a config: :func:`tiny_gpt2`,
:func:`tiny_bart`. Every model takes the keyword arguments of the matching encoder's batch
(:mod:`torch_rdrop.bench.tasks.text`, :mod:`torch_rdrop.bench.tasks.pixels`) and returns logits as a
tensor or as an output with ``.logits``, which :func:`torch_rdrop.wrapper.default_logits` reads.

The hidden layers sit in an ``nn.Sequential`` (or are recurrent / Hugging Face encoder layers),
where Manifold MixUp looks for its mixing sites; token models expose their ``nn.Embedding`` for
adversarial training.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "MLP",
    "BiLSTMClassifier",
    "BiLSTMTagger",
    "ImageCNN",
    "TextCNN",
    "count_parameters",
    "minilm_classifier",
    "minilm_tagger",
    "tiny_bart",
    "tiny_gpt2",
]


def _check_dropout(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {p!r}")
    return float(p)


def _check_size(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters.

    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _default_mask(input_ids: Tensor, attention_mask: Tensor | None, pad_id: int) -> Tensor:
    mask = (input_ids != pad_id) if attention_mask is None else attention_mask.bool()
    if mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask shape {tuple(mask.shape)} differs from input_ids "
            f"{tuple(input_ids.shape)}"
        )
    return mask


class TextCNN(nn.Module):
    """Kim-style CNN for text classification: embeddings, parallel convolutions, max pooling.

    Dropout acts once, on the pooled features, as in Kim (2014). (Dropout at p on the
    embeddings, the pooled features and the hidden layer compounded: at p = 0.5 the model's
    training loss stayed at chance for 8 epochs of the whole MR training split.)

    >>> net = TextCNN(vocab_size=50, num_classes=3, embed_dim=16, channels=8)
    >>> net(torch.randint(1, 50, (4, 12))).shape
    torch.Size([4, 3])
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embed_dim: int = 128,
        channels: int = 100,
        kernel_sizes: tuple[int, ...] = (3, 4, 5),
        hidden: int = 128,
        dropout: float = 0.5,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        p = _check_dropout(dropout)
        self.pad_id = pad_id
        self.embedding = nn.Embedding(
            _check_size("vocab_size", vocab_size), embed_dim, padding_idx=pad_id
        )
        # a ModuleDict, not a ModuleList: the parallel branches are not successive layers
        self.convs = nn.ModuleDict(
            {f"k{k}": nn.Conv1d(embed_dim, channels, k, padding=k // 2) for k in kernel_sizes}
        )
        self.blocks = nn.Sequential(
            nn.Dropout(p), nn.Linear(channels * len(kernel_sizes), hidden), nn.ReLU()
        )
        self.head = nn.Linear(hidden, _check_size("num_classes", num_classes))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Logits ``[B, num_classes]``; padding positions are left out of the max pooling."""
        mask = _default_mask(input_ids, attention_mask, self.pad_id)
        x = self.embedding(input_ids).transpose(1, 2)
        pooled = []
        for conv in self.convs.values():
            h = torch.relu(conv(x))[..., : input_ids.shape[1]]
            h = h.masked_fill(~mask.unsqueeze(1), float("-inf")).amax(dim=-1)
            pooled.append(torch.where(torch.isinf(h), torch.zeros_like(h), h))
        return self.head(self.blocks(torch.cat(pooled, dim=-1)))


class _BiLSTM(nn.Module):
    """Embeddings (dropout at p), a bidirectional LSTM; the heads add one more dropout at p."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden: int,
        layers: int,
        dropout: float,
        pad_id: int,
    ) -> None:
        super().__init__()
        p = _check_dropout(dropout)
        self.pad_id = pad_id
        self.embedding = nn.Embedding(
            _check_size("vocab_size", vocab_size), embed_dim, padding_idx=pad_id
        )
        self.embed_dropout = nn.Dropout(p)
        self.lstm = nn.LSTM(
            embed_dim,
            _check_size("hidden", hidden),
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=p if layers > 1 else 0.0,
        )

    def encode(self, input_ids: Tensor, attention_mask: Tensor | None) -> tuple[Tensor, Tensor]:
        mask = _default_mask(input_ids, attention_mask, self.pad_id)
        x = self.embed_dropout(self.embedding(input_ids))
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths, batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(
            out, batch_first=True, total_length=input_ids.shape[1]
        )
        return out, mask


class BiLSTMClassifier(_BiLSTM):
    """Bidirectional LSTM over embeddings, masked mean and max pooling, linear head.

    >>> net = BiLSTMClassifier(vocab_size=30, num_classes=2, embed_dim=8, hidden=8)
    >>> ids = torch.tensor([[3, 4, 5], [6, 7, 0]])
    >>> net(ids, attention_mask=(ids != 0).long()).shape
    torch.Size([2, 2])
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embed_dim: int = 128,
        hidden: int = 128,
        layers: int = 1,
        dropout: float = 0.5,
        pad_id: int = 0,
    ) -> None:
        super().__init__(vocab_size, embed_dim, hidden, layers, dropout, pad_id)
        self.blocks = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, _check_size("num_classes", num_classes))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Logits ``[B, num_classes]``."""
        out, mask = self.encode(input_ids, attention_mask)
        keep = mask.unsqueeze(-1)
        mean = (out * keep).sum(1) / keep.sum(1).clamp(min=1)
        top = out.masked_fill(~keep, float("-inf")).amax(dim=1)
        top = torch.where(torch.isinf(top), torch.zeros_like(top), top)
        return self.head(self.blocks(torch.cat([mean, top], dim=-1)))


class BiLSTMTagger(_BiLSTM):
    """Bidirectional LSTM tagger: one tag distribution per token.

    >>> net = BiLSTMTagger(vocab_size=30, num_tags=5, embed_dim=8, hidden=8)
    >>> net(torch.tensor([[3, 4, 5], [6, 0, 0]])).shape
    torch.Size([2, 3, 5])
    """

    def __init__(
        self,
        vocab_size: int,
        num_tags: int,
        embed_dim: int = 128,
        hidden: int = 128,
        layers: int = 1,
        dropout: float = 0.5,
        pad_id: int = 0,
    ) -> None:
        super().__init__(vocab_size, embed_dim, hidden, layers, dropout, pad_id)
        self.blocks = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, _check_size("num_tags", num_tags))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Logits ``[B, T, num_tags]``."""
        out, _ = self.encode(input_ids, attention_mask)
        return self.head(self.blocks(out))


class ImageCNN(nn.Module):
    """Two convolution blocks and a dropout MLP head, for 28x28 grey images.

    >>> ImageCNN(num_classes=10)(torch.rand(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        channels: tuple[int, int] = (32, 64),
        hidden: int = 128,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        p = _check_dropout(dropout)
        c1, c2 = channels
        side = image_size // 4
        self.blocks = nn.Sequential(
            nn.Sequential(nn.Conv2d(in_channels, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
            nn.Sequential(nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
            nn.Sequential(
                nn.Flatten(),
                nn.Dropout(p),
                nn.Linear(c2 * side * side, hidden),
                nn.ReLU(),
                nn.Dropout(p),
            ),
        )
        self.head = nn.Linear(hidden, _check_size("num_classes", num_classes))

    def forward(self, pixel_values: Tensor) -> Tensor:
        """Logits ``[B, num_classes]`` of images ``[B, C, H, W]``."""
        if pixel_values.dim() != 4:
            raise ValueError(
                f"pixel_values must be [B, C, H, W], got shape {tuple(pixel_values.shape)}"
            )
        return self.head(self.blocks(pixel_values))


class MLP(nn.Module):
    """Multi-layer perceptron over flattened images (the 8x8 digits).

    >>> MLP(in_features=64, num_classes=10)(torch.rand(3, 1, 8, 8)).shape
    torch.Size([3, 10])
    """

    def __init__(
        self,
        in_features: int = 64,
        num_classes: int = 10,
        hidden: tuple[int, ...] = (256, 128),
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        p = _check_dropout(dropout)
        layers: list[nn.Module] = []
        width = _check_size("in_features", in_features)
        for size in hidden:
            layers.append(nn.Sequential(nn.Linear(width, size), nn.ReLU(), nn.Dropout(p)))
            width = size
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Linear(width, _check_size("num_classes", num_classes))

    def forward(self, pixel_values: Tensor) -> Tensor:
        """Logits ``[B, num_classes]`` of inputs ``[B, ...]`` (flattened)."""
        return self.head(self.blocks(pixel_values.flatten(1)))


def _minilm(auto_class: str, num_labels: int, dropout: float, path: Any = None) -> nn.Module:
    import transformers

    from torch_rdrop.bench.tasks.new_weights import mark_new_weights
    from torch_rdrop.bench.tasks.text import minilm_path, quiet_transformers

    p = _check_dropout(dropout)
    folder = str(path if path is not None else minilm_path())
    with quiet_transformers():
        model, loading = getattr(transformers, auto_class).from_pretrained(
            folder,
            local_files_only=True,
            num_labels=_check_size("num_labels", num_labels),
            hidden_dropout_prob=p,
            attention_probs_dropout_prob=p,
            classifier_dropout=p,
            output_loading_info=True,
        )
    return mark_new_weights(model, loading["missing_keys"])


def minilm_classifier(num_labels: int, dropout: float = 0.1, path: Any = None) -> nn.Module:
    """all-MiniLM-L6-v2 (pretrained, from the package folder) with a fresh classification head.

    ``dropout`` sets the hidden, attention and classifier dropout. Output: ``.logits [B, C]``.
    """
    return _minilm("AutoModelForSequenceClassification", num_labels, dropout, path)


def minilm_tagger(num_labels: int, dropout: float = 0.1, path: Any = None) -> nn.Module:
    """all-MiniLM-L6-v2 with a fresh token-classification head. Output: ``.logits [B, T, C]``."""
    return _minilm("AutoModelForTokenClassification", num_labels, dropout, path)


def tiny_gpt2(
    vocab_size: int, dropout: float = 0.1, max_len: int = 256, width: int = 128, layers: int = 2
) -> nn.Module:
    """A randomly initialised GPT-2 language model from a config (about 0.5 M + vocab params).

    >>> lm = tiny_gpt2(vocab_size=40, width=32, layers=1)
    >>> lm(input_ids=torch.randint(0, 40, (2, 7))).logits.shape
    torch.Size([2, 7, 40])
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    p = _check_dropout(dropout)
    config = GPT2Config(
        vocab_size=_check_size("vocab_size", vocab_size),
        n_positions=max_len,
        n_embd=width,
        n_layer=layers,
        n_head=4,
        resid_pdrop=p,
        embd_pdrop=p,
        attn_pdrop=p,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )
    return GPT2LMHeadModel(config)


def tiny_bart(
    vocab_size: int, dropout: float = 0.1, max_len: int = 512, width: int = 128, layers: int = 2
) -> nn.Module:
    """A randomly initialised BART encoder-decoder from a config (pad 0, bos 2, eos 3).

    >>> m = tiny_bart(vocab_size=50, width=32, layers=1)
    >>> ids = torch.randint(4, 50, (2, 9))
    >>> m(input_ids=ids, decoder_input_ids=ids[:, :4]).logits.shape
    torch.Size([2, 4, 50])
    """
    from transformers import BartConfig, BartForConditionalGeneration

    p = _check_dropout(dropout)
    config = BartConfig(
        vocab_size=_check_size("vocab_size", vocab_size),
        max_position_embeddings=max_len,
        d_model=width,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=2 * width,
        decoder_ffn_dim=2 * width,
        dropout=p,
        attention_dropout=p,
        activation_dropout=p,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
        decoder_start_token_id=2,
        forced_eos_token_id=3,
    )
    return BartForConditionalGeneration(config)


def minilm_encoder_decoder(dropout: float = 0.1, path: Any = None, copy: bool = False) -> nn.Module:
    """An encoder-decoder warm-started from all-MiniLM-L6-v2 on both sides (BERT2BERT).

    The encoder and the decoder both start from the pretrained weights; the decoder's
    self-attention is made causal, its cross-attention layers and its output transform are new
    (random, marked as new weights: :mod:`.new_weights`), and its output layer is tied to the
    word embeddings. Decoding starts at ``[CLS]`` and ends at ``[SEP]``,
    the conventions of the WordPiece tokenizer that ships with the weights (so targets are
    tokenized with their ``[CLS] ... [SEP]``). ``dropout`` sets the hidden and attention dropout
    of both sides. ``path`` is a BERT checkpoint folder with its tokenizer (the packaged MiniLM
    by default). ``copy`` adds a copy mechanism (a pointer-generator:
    :mod:`.copy_seq2seq`), whose weights are new too.
    """
    import transformers

    from torch_rdrop.bench.tasks.new_weights import mark_new_weights
    from torch_rdrop.bench.tasks.text import minilm_path, quiet_transformers

    p = _check_dropout(dropout)
    folder = str(path if path is not None else minilm_path())
    dropouts = {"hidden_dropout_prob": p, "attention_probs_dropout_prob": p}
    with quiet_transformers():
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
        encoder, encoder_loading = transformers.AutoModel.from_pretrained(
            folder, local_files_only=True, output_loading_info=True, **dropouts
        )
        decoder, decoder_loading = transformers.AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, is_decoder=True, add_cross_attention=True,
            output_loading_info=True, **dropouts,
        )  # fmt: skip
        if copy:
            from torch_rdrop.bench.tasks.copy_seq2seq import COPY_WEIGHTS, CopyEncoderDecoder

            model = CopyEncoderDecoder(encoder=encoder, decoder=decoder)
            head = [name for name, _ in getattr(model, COPY_WEIGHTS).named_parameters()]
            mark_new_weights(model, head, prefix=COPY_WEIGHTS + ".")
        else:
            model = transformers.EncoderDecoderModel(encoder=encoder, decoder=decoder)
    mark_new_weights(model, encoder_loading["missing_keys"], prefix="encoder.")
    mark_new_weights(model, decoder_loading["missing_keys"], prefix="decoder.")
    ids = {
        "decoder_start_token_id": tokenizer.cls_token_id,
        "eos_token_id": tokenizer.sep_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    for key, value in ids.items():
        setattr(model.config, key, value)
        setattr(model.generation_config, key, value)
    return model
