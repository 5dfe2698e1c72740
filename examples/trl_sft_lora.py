"""R-Drop SFT with a LoRA adapter: TRL's SFTTrainer with one class name changed.

A small Llama from a random config learns to add numbers written in words ("three plus four
is" -> "seven"), a prompt-completion data set, so SFT trains on the completions only. The LoRA
adapter's dropout is the only dropout: R-Drop's two passes differ through it. The word-level
tokenizer is built here; nothing is downloaded. Prints SFT's and R-Drop's logged metrics, then
one JSON line.

    python examples/trl_sft_lora.py --max-steps 60
"""

from __future__ import annotations

import argparse
import json
import tempfile

import torch
from datasets import Dataset
from peft import LoraConfig
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from torch_rdrop.integrations.trl import RDropSFTConfig, RDropSFTTrainer

NUMBERS = [
    "zero", "one", "two", "three", "four", "five", "six",
    "seven", "eight", "nine", "ten", "eleven", "twelve",
]  # fmt: skip
TOKENS = ["<pad>", "<unk>", "<s>", "</s>", "plus", "is", *NUMBERS]


def tokenizer() -> PreTrainedTokenizerFast:
    core = Tokenizer(models.WordLevel({t: i for i, t in enumerate(TOKENS)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    special = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
    return PreTrainedTokenizerFast(tokenizer_object=core, **special)


def sums() -> tuple[Dataset, Dataset]:
    rows = [
        {"prompt": f"{NUMBERS[a]} plus {NUMBERS[b]} is", "completion": f" {NUMBERS[a + b]}"}
        for a in range(7)
        for b in range(7)
    ]
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(0)).tolist()
    rows = [rows[i] for i in order]
    return Dataset.from_list(rows[:40]), Dataset.from_list(rows[40:])


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=60)
    parser.add_argument("--alpha", type=float, default=1.0)
    options = parser.parse_args(argv)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(TOKENS), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16,
        pad_token_id=0, bos_token_id=2, eos_token_id=3,
    )  # fmt: skip
    train, held_out = sums()
    with tempfile.TemporaryDirectory() as out:
        args = RDropSFTConfig(
            output_dir=out,
            rdrop_alpha=options.alpha,
            max_steps=options.max_steps,
            per_device_train_batch_size=8,
            learning_rate=2e-2,
            logging_steps=max(1, options.max_steps // 3),
            bf16=False,
            report_to="none",
            save_strategy="no",
            use_cpu=True,
            disable_tqdm=True,
        )
        trainer = RDropSFTTrainer(  # was: SFTTrainer(...)
            model=LlamaForCausalLM(config),
            args=args,
            train_dataset=train,
            eval_dataset=held_out,
            processing_class=tokenizer(),
            peft_config=LoraConfig(
                r=8,
                lora_alpha=16,
                lora_dropout=0.1,
                target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
                modules_to_save=["lm_head"],
            ),
        )
        trainer.train()
        evaluation = trainer.evaluate()
    logs = [log for log in trainer.state.log_history if "consistency" in log]
    for log in logs:
        print({key: round(value, 4) for key, value in log.items()})
    last = logs[-1]
    keys = ("task_loss", "consistency", "rdrop_alpha", "entropy", "mean_token_accuracy")
    result = {key: last[key] for key in keys}
    result["num_tokens"] = last["num_tokens"]
    result["eval_loss"] = evaluation["eval_loss"]
    result["eval_mean_token_accuracy"] = evaluation["eval_mean_token_accuracy"]
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
