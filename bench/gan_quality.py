"""Quality figures of gm_helpers.gan (issue 3), with timings.

- WGAN-GP on "8gaussians": modes covered, % of samples within 3 sigma of a mode, classifier AUC.
  Target: 8/8 modes and >= 90% within 3 sigma.
- Conditional DCGAN on the MNIST subset: the fraction of generated digits that a fixed classifier,
  trained on the real MNIST training split, labels as the digit asked for. Target: >= 90%.

Usage: python bench/gan_quality.py [--quick] [--device cpu] [--only toy|mnist]
(GM_QUICK=1 or --quick: a smoke run of a few steps; the figures are then meaningless.)
"""

from __future__ import annotations

import argparse
import time

import torch

import gm_helpers as gm

TOY_STEPS, MNIST_STEPS = 4000, 2000
# lam = 0.1 as in the official toy script (igul222/improved_wgan_training, gan_toy.py); Adam lr 1e-3
# instead of 1e-4, because that script trains for 1e5 generator steps and a CPU bench for a few 1e3.
TOY_SETTINGS = {"lam": 0.1, "lr": 1e-3}
# The conditional DCGAN with the non-saturating loss collapses within each class (the samples of a
# digit ignore z) and reads as the digit asked for in only 50-80% of the samples; a projection
# critic (arXiv:1802.05637) trained as WGAN-GP keeps z alive. One critic step per generator step
# did as well per step as two in short trials, for half the time.
MNIST_SETTINGS = {"kind": "wgan-gp", "n_critic": 1, "lr": 2e-4, "betas": (0.0, 0.9)}


def wgan_gp_8gaussians(steps: int, device: torch.device, seed: int = 0) -> dict:
    gm.seed_everything(seed)
    data = gm.data.toy2d("8gaussians", 20_000, seed=seed)
    centers, std = gm.data.toy2d_modes("8gaussians")
    generator, critic = gm.gan.MLPGenerator(2, latent_features=8), gm.gan.MLPCritic(2)
    start = time.perf_counter()
    gm.gan.train_gan(generator, critic, data, kind="wgan-gp", steps=steps, batch_size=256, device=device,
                     seed=seed, **TOY_SETTINGS)  # fmt: skip
    seconds = time.perf_counter() - start
    samples = generator.sample(10_000).cpu()
    coverage = gm.metrics.mode_coverage(samples, centers, radius=3 * std)
    reference = gm.data.toy2d("8gaussians", 10_000, seed=seed + 1)
    auc = gm.metrics.classifier_two_sample_auc(reference, samples, seed=seed)
    return {
        "modes covered": f"{coverage.n_covered}/{coverage.n_modes}",
        "within 3 sigma": f"{100 * coverage.fraction_near:.1f}%",
        "C2ST AUC": f"{auc:.3f}",
        "train seconds": f"{seconds:.0f}",
    }


def within_class_spread(images: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over classes and pixels of the pixel standard deviation within a class: near 0 when the
    generator ignores z (a conditional mode collapse)."""
    return torch.stack([images[labels == k].flatten(1).std(0).mean() for k in labels.unique()]).mean().item()


def conditional_dcgan_mnist(steps: int, device: torch.device, seed: int = 0, width: int = 32) -> dict:
    gm.seed_everything(seed)
    images, labels = gm.data.load_mnist("train")
    generator = gm.gan.DCGANGenerator(latent_features=64, width=width, n_classes=10)
    critic = gm.gan.DCGANDiscriminator(width=width, n_classes=10, batch_norm=False, projection=True)
    start = time.perf_counter()
    gm.gan.train_gan(generator, critic, images, context=labels, batch_size=64, device=device, seed=seed,
                     steps=steps, **MNIST_SETTINGS)  # fmt: skip
    seconds = time.perf_counter() - start
    asked = torch.arange(10).repeat_interleave(100)
    generated = generator.sample(len(asked), context=asked).cpu()
    per_digit = [gm.metrics.digit_accuracy(generated[asked == k], asked[asked == k]) for k in range(10)]
    return {
        "digit accuracy": f"{100 * gm.metrics.digit_accuracy(generated, asked):.1f}%",
        "worst digit": f"{min(range(10), key=per_digit.__getitem__)} ({100 * min(per_digit):.0f}%)",
        "judge's accuracy on real test digits": f"{100 * gm.metrics.digit_classifier().test_accuracy:.1f}%",
        "within-class pixel spread (generated / real)": f"{within_class_spread(generated, asked):.3f} / "
        f"{within_class_spread(images, labels):.3f}",
        "train seconds": f"{seconds:.0f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few steps")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: gm.get_device())")
    parser.add_argument("--only", choices=["toy", "mnist"], default=None)
    args = parser.parse_args()
    quick = args.quick or gm.quick_mode()
    device = gm.get_device(args.device)
    print(f"device: {device}, torch threads: {torch.get_num_threads()}, quick: {quick}")
    benches = {
        "toy": ("WGAN-GP on 8gaussians", wgan_gp_8gaussians, 20 if quick else TOY_STEPS),
        "mnist": ("conditional DCGAN on MNIST", conditional_dcgan_mnist, 5 if quick else MNIST_STEPS),
    }
    for key, (title, bench, steps) in benches.items():
        if args.only in (None, key):
            figures = bench(steps, device)
            print(f"\n{title} ({steps} generator steps)")
            for name, value in figures.items():
                print(f"  {name}: {value}")


if __name__ == "__main__":
    main()
