import pytest
import torch

from gm_helpers.train import NonFiniteLossError, infinite_batches, train_loop


def test_train_loop_fits_a_line_and_keeps_history():
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 64)[:, None]
    y = 3 * x + 1
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    snapshots = []

    def step(i):
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"mse": loss}

    history = train_loop(
        step, 200, progress=False, callback=lambda i, h: snapshots.append(i), callback_every=50
    )
    assert len(history["mse"]) == 200 and history["mse"][-1] < 1e-4
    assert snapshots == [0, 50, 100, 150, 199]
    assert model.weight.item() == pytest.approx(3, abs=1e-2)


def test_train_loop_stops_on_nan_naming_the_step():
    def step(i):
        return {"loss": float("nan") if i == 7 else 1.0}

    with pytest.raises(NonFiniteLossError, match="'loss' became nan at step 7.*learning rate"):
        train_loop(step, 20, progress=False)


def test_train_loop_rejects_bad_step_count():
    with pytest.raises(ValueError, match="n_steps"):
        train_loop(lambda i: {}, 0)


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


def test_callback_returning_true_stops_training():
    history = train_loop(
        lambda i: {"loss": 1.0}, 100, progress=False, callback=lambda i, h: i >= 30, callback_every=10
    )
    assert len(history["loss"]) == 31
