import pytest
import torch

from gm_helpers.train import NonFiniteLossError, infinite_batches, train_loop


def test_train_loop_fits_a_line_and_keeps_history():
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 64)[:, None]
    y = 3 * x + 1
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)

    def step(i):
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"mse": loss}

    history = train_loop(step, 200, progress=False, snapshot=lambda: model.weight.item(), eval_every=50)
    assert len(history["mse"]) == 200 and history["mse"][-1] < 1e-4
    assert history.steps("mse") == list(range(1, 201))
    assert [s for s, _ in history.snapshots] == [50, 100, 150, 200]
    assert history.snapshots[-1][1] == pytest.approx(3, abs=1e-2)
    assert model.weight.item() == pytest.approx(3, abs=1e-2)


def test_train_loop_stops_on_nan_naming_the_step():
    def step(i):
        return {"loss": float("nan") if i == 7 else 1.0}

    with pytest.raises(NonFiniteLossError, match="'loss' became nan at step 8 of 20.*learning rate"):
        train_loop(step, 20, progress=False)


def test_train_loop_rejects_bad_step_count():
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        train_loop(lambda i: {}, 0)
    with pytest.raises(ValueError, match="patience needs a validation loss"):
        train_loop(lambda i: {}, 3, patience=2)


def test_infinite_batches_cover_every_row_each_epoch():
    data = torch.arange(10)
    labels = data * 2
    batches = infinite_batches(data, labels, batch_size=5, seed=1)
    seen = torch.cat([next(batches)[0] for _ in range(2)])
    assert sorted(seen.tolist()) == list(range(10))
    x, y = next(batches)
    assert torch.equal(y, 2 * x)
    with pytest.raises(ValueError, match="batch_size"):
        next(infinite_batches(data, batch_size=11))


def test_patience_stops_training_and_the_best_state_is_restored():
    model = torch.nn.Linear(1, 1, bias=False)
    values = iter([5.0, 3.0, 4.0, 4.0, 4.0, 4.0])

    def step(i):
        with torch.no_grad():
            model.weight.fill_(float(i + 1))  # the weight records the step
        return {"loss": 1.0}

    history = train_loop(step, 100, progress=False, modules=[model], validate=lambda: {"val": next(values)},
                         eval_every=10, monitor="val", patience=3)  # fmt: skip
    assert history.steps("val") == [10, 20, 30, 40, 50] and len(history["loss"]) == 50
    assert history.stopped_early and history.best_step == 20
    assert model.weight.item() == 20.0, "the module must end in the state of the best evaluation"
