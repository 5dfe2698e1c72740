"""RDropModule: logged parts, single-pass validation, the no-dropout warning, batch formats."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("lightning")

from integrations.lit_stand_ins import LitStandIn, fit
from torch_rdrop import NoDropoutWarning
from torch_rdrop.integrations.lightning import RDropModule


def test_training_logs_both_parts_and_validation_is_one_pass(tmp_path) -> None:
    torch.manual_seed(0)
    module = LitStandIn()
    trainer = fit(module, str(tmp_path), batch_size=8, steps=2)
    metrics = dict(trainer.callback_metrics)
    for name in ("train/loss_step", "train/task_loss_step", "train/consistency_step"):
        assert name in metrics
    assert float(metrics["train/consistency_step"]) > 0
    expected = metrics["train/task_loss_step"] + 2.0 * metrics["train/consistency_step"]
    assert float(metrics["train/loss_step"]) == pytest.approx(float(expected), rel=1e-5)
    rows = [
        {"x": torch.randn(6), "uid": torch.tensor(i), "labels": torch.tensor(0)} for i in range(8)
    ]
    trainer.validate(module, torch.utils.data.DataLoader(rows, batch_size=8))
    assert module.validation_calls == [8]  # one pass, never doubled
    assert "val/accuracy" in trainer.callback_metrics


def test_disabled_dropout_warns(tmp_path) -> None:
    module = LitStandIn()
    module.net.p = 0.0
    with pytest.warns(NoDropoutWarning):
        fit(module, str(tmp_path), batch_size=8, steps=1)


class TupleNet(RDropModule):
    def __init__(self, **settings) -> None:
        super().__init__(**settings)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 3)
        )

    def forward(self, x):
        return self.net(x)


def test_tuple_batches_and_alpha_warmup() -> None:
    module = TupleNet(alpha=2.0, alpha_warmup_steps=4)
    out = module.rdrop_step((torch.randn(8, 4), torch.randint(0, 3, (8,))))
    assert out.alpha == 0.0  # no trainer attached: step 0 of the warm-up
    assert torch.isclose(out.loss, out.task_loss)
    assert out.consistency > 0


def test_regression_with_mse_consistency() -> None:
    class Regressor(TupleNet):
        def task_loss(self, logits, target):
            return torch.nn.functional.mse_loss(logits.squeeze(-1), target)

    module = Regressor(divergence="mse")
    module.net[-1] = torch.nn.Linear(16, 1)
    out = module.rdrop_step((torch.randn(8, 4), torch.randn(8)))
    first, second = out.logits
    assert torch.isclose(out.consistency, ((first - second) ** 2).sum(-1).mean())


def test_bad_batches_and_settings_are_refused() -> None:
    module = TupleNet()
    with pytest.raises(ValueError, match="split_batch"):
        module.rdrop_step(("only inputs",))
    with pytest.raises(ValueError, match="passes"):
        TupleNet(passes=1)
    with pytest.raises(ValueError, match="alpha_warmup_steps"):
        TupleNet(alpha_warmup_steps=2.5)
