"""Tiny causal LMs, a word-level tokenizer with a chat template and in-memory SFT data sets, all
built in the test (no downloads) for the TRL / PEFT tests and the example."""

from __future__ import annotations

from typing import Any

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "under",
    "mat",
    "rug",
    "red",
    "blue",
    "big",
    "small",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "what",
    "is",
    "where",
    "does",
    "who",
    "yes",
    "no",
    "it",
    "and",
    "then",
    "very",
    "quick",
    "slow",
    "bird",
    "fish",
]
SPECIAL = ["<pad>", "<unk>", "<s>", "</s>", "<user>", "<assistant>", "<system>", "<end>"]

#: A chat template with ``{% generation %}`` around the assistant's words (assistant-only loss).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<assistant> {% generation %}{{ message['content'] }} <end>{% endgeneration %} "
    "{% else %}"
    "<{{ message['role'] }}> {{ message['content'] }} <end> "
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)


def make_tokenizer(chat_template: str | None = CHAT_TEMPLATE) -> Any:
    """A ``PreTrainedTokenizerFast`` over :data:`WORDS`, split on white space."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


def vocab_size() -> int:
    return len(SPECIAL) + len(WORDS)


def make_llama(dropout: float = 0.0, hidden: int = 32, seed: int = 0) -> Any:
    """A 2-layer Llama with random weights; ``dropout`` is its attention dropout."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size(),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        attention_dropout=dropout,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
    )
    return LlamaForCausalLM(config)


def make_qwen2(dropout: float = 0.0, hidden: int = 32, seed: int = 0) -> Any:
    """A 2-layer Qwen2 with random weights (tied embeddings); ``dropout`` is its attention
    dropout."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab_size(),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        attention_dropout=dropout,
        tie_word_embeddings=True,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
    )
    return Qwen2ForCausalLM(config)


def _sentence(i: int, length: int) -> str:
    return " ".join(WORDS[(7 * i + 3 * j) % len(WORDS)] for j in range(length))


def text_dataset(n: int = 8, length: int | None = None) -> Any:
    """Language-modelling rows ``{"text"}``; equal lengths when ``length`` is given."""
    from datasets import Dataset

    rows = [{"text": _sentence(i, length or 3 + (i * 5) % 7)} for i in range(n)]
    return Dataset.from_list(rows)


def prompt_completion_dataset(n: int = 8) -> Any:
    """Prompt-completion rows (SFT trains on the completion only, by default)."""
    from datasets import Dataset

    rows = [
        {"prompt": _sentence(i, 2 + i % 3), "completion": " " + _sentence(i + 11, 2 + (i * 3) % 4)}
        for i in range(n)
    ]
    return Dataset.from_list(rows)


def conversation_dataset(n: int = 8) -> Any:
    """Conversational rows ``{"messages"}`` with a system, a user and an assistant turn."""
    from datasets import Dataset

    rows = [
        {
            "messages": [
                {"role": "system", "content": _sentence(i + 5, 2)},
                {"role": "user", "content": _sentence(i, 2 + i % 3)},
                {"role": "assistant", "content": _sentence(i + 13, 2 + (i * 3) % 4)},
            ]
        }
        for i in range(n)
    ]
    return Dataset.from_list(rows)


def repeated_words_dataset(n: int = 8) -> Any:
    """Rows of runs of one word (``"cat cat cat dog dog"``): a tied-embedding model with random
    weights already predicts many of their next tokens, so token accuracy is not 0."""
    from datasets import Dataset

    rows = [
        {"text": " ".join([WORDS[i]] * (2 + i % 3) + [WORDS[i + 1]] * (3 + i % 2))}
        for i in range(n)
    ]
    return Dataset.from_list(rows)


def make_mixtral(dropout: float = 0.0, hidden: int = 32, seed: int = 0) -> Any:
    """A 2-layer mixture-of-experts Mixtral (4 experts, 2 per token): SFT adds and logs its
    router's load-balancing loss."""
    import torch
    from transformers import MixtralConfig, MixtralForCausalLM

    torch.manual_seed(seed)
    config = MixtralConfig(
        vocab_size=vocab_size(),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_local_experts=4,
        num_experts_per_tok=2,
        max_position_embeddings=64,
        attention_dropout=dropout,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
    )
    return MixtralForCausalLM(config)
