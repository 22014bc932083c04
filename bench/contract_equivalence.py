"""Did the training contract (issue 10) change any training? The same small runs with the package
before the refactor and after it: same initial weights, same seed, one CPU thread.

    git worktree add /tmp/before 9f70d40        # the package before the refactor
    python bench/contract_equivalence.py /tmp/before

Prints the final figures of a VAE, a RealNVP and a WGAN-GP (with snapshots) from both packages; they
must agree to the last digit.
"""

import argparse
import json
import subprocess
import sys

RUN = r"""
import sys, json, torch
old = sys.argv[1] != "-"
if old:
    sys.path.insert(0, sys.argv[1])
import gm_helpers as gm
torch.set_num_threads(1)
out = {}
torch.manual_seed(0)
x = (torch.rand(256, 1, 28, 28) > 0.6).float()
model = gm.vae.VAE(**({"latent_dim": 4} if old else {"latent_features": 4}), hidden=(32,))
h = gm.vae.train_vae(model, x, batch_size=32, device="cpu", progress=False, seed=3,
                     **({"n_steps": 30} if old else {"steps": 30}))
out["VAE loss after 30 steps"] = h["loss"][-1]
out["VAE sum of weights"] = float(sum(p.double().sum() for p in model.parameters()))
torch.manual_seed(0)
data = torch.randn(512, 2)
flow = gm.flows.realnvp(2, **({"layers": 4} if old else {"transforms": 4}))
h = gm.flows.train_flow(flow, data, steps=40, batch_size=64, device="cpu", progress=False, seed=3)
out["RealNVP NLL after 40 steps"] = h["nll"][-1]
torch.manual_seed(0)
mlp = {"hidden": 32, "layers": 2} if old else {"hidden": (32, 32)}
G, D = gm.gan.MLPGenerator(2, **mlp), gm.gan.MLPCritic(2, **mlp)
kw = {"n_steps": 20, "snapshot_every": 10} if old else {"steps": 20, "eval_every": 10}
run = gm.gan.train_gan(G, D, data, kind="wgan-gp", batch_size=64, device="cpu", progress=False, seed=3, **kw)
out["WGAN-GP generator loss after 20 steps"] = (run.history if old else run)["generator"][-1]
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="a checkout of the package before the refactor (git worktree)")
    args = parser.parse_args()
    results = {}
    for name, where in (("before", args.before), ("after", "-")):
        out = subprocess.run([sys.executable, "-c", RUN, where], capture_output=True, text=True, check=True)
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    for key in results["after"]:
        a, b = results["before"][key], results["after"][key]
        print(f"{key:42s} before {a!r:24s} after {b!r:24s} {'same' if a == b else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
