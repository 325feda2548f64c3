#!/usr/bin/python3
"""PyTorch (float32, CPU, autograd) versions of the benchmark losses.

The "PyTorch CPU" column of the benchmark (docs/benchmarks.md). Reads a case
directory written by writeCaseBinaries() in support/cases.mjs, times
forward + backward of every variant of the case, and prints one JSON line per
variant:

    {"case", "variant", "loss", "median_ms", "runs", "torch_version", "threads"}

Usage: /usr/bin/python3 bench/baselines/torch_losses.py <case_dir> [--runs N] [--warmup N] [--threads T] [--grad-out DIR]

--grad-out writes each variant's gradient as raw little-endian float32
(<DIR>/<variant>.grad.bin), for bench/check-comparisons.mjs.

The math follows docs/spec.md §3-§5; comments only say where a
choice is not obvious.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

DTYPES = {"float32": torch.float32, "int32": torch.int32}


# ---------------------------------------------------------------------------
# Case loading

def load_case(case_dir):
    with open(os.path.join(case_dir, "meta.json")) as f:
        meta = json.load(f)
    arrays = {}
    for name, info in meta["arrays"].items():
        with open(os.path.join(case_dir, info["file"]), "rb") as f:
            raw = bytearray(f.read())
        # torch reads native byte order; x86/arm64 are little-endian like the files.
        assert sys.byteorder == "little", "case files are little-endian"
        arrays[name] = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return meta, arrays


# ---------------------------------------------------------------------------
# Losses. Each takes plain tensors, calls backward itself and returns the loss
# as a Python float; gradients land in .grad of the leaf tensors passed in.

def cross_entropy(logits, target, weight):
    loss = F.cross_entropy(logits, target, weight=weight, reduction="mean")
    loss.backward()
    return loss.item()


def patch_labels(mask_image, p):
    """(N,) bool: patch mean of the mask > 0.5 (strict)."""
    return F.avg_pool2d(mask_image.unsqueeze(0), p).flatten() > 0.5


def patch_vectors(x, p):
    """Unit patch vectors (N, C) of one image x (C, H, W)."""
    pooled = F.avg_pool2d(x.unsqueeze(0), p)[0]  # (C, kh, kw)
    return F.normalize(pooled.flatten(1).t(), dim=1, eps=1e-12)


def exact_anchor_loss(s, positive, negative, positive_count):
    m = s.max(dim=1, keepdim=True).values.detach()
    neg_sum = (torch.exp(s - m) * negative).sum(dim=1, keepdim=True)
    has_negative = neg_sum > 0  # without negatives every term is ln(1) = 0
    lse = m + torch.log(torch.where(has_negative, neg_sum, torch.ones_like(neg_sum)))
    # F.softplus returns x above 20; the error, ln(1 + e^-20) = 2e-9, is below
    # float32 resolution there (it matters only in the float64 reference).
    terms = F.softplus(lse - s) * positive
    per_anchor = terms.sum(dim=1, keepdim=True) / positive_count.clamp(min=1)
    return torch.where(has_negative, per_anchor, torch.zeros_like(per_anchor))


def cflnet_anchor_loss(s, positive, negative, positive_count, eye):
    s_prime = s.masked_fill(eye, 0.0)  # diagonal forced to 0, no gradient through it
    column_max = s_prime.max(dim=0, keepdim=True).values.detach()  # detached, as in CFL-Net
    e = torch.exp(s_prime - column_max)
    neg_sum = (e * negative).sum(dim=1, keepdim=True)
    ratio = e / ((e + neg_sum) + 1e-18)
    lam = -torch.log(ratio + 1e-18)
    return (lam * positive).sum(dim=1, keepdim=True) / positive_count.clamp(min=1)


def patch_contrast(features, mask, p, t, variant):
    """Batch mean of per-image losses. One backward per image keeps only one
    image's N x N graph alive (3,136^2 floats per matrix at full size)."""
    B = features.shape[0]
    grads, total = [], 0.0
    for b in range(B):
        x = features[b].detach().requires_grad_(True)
        label = patch_labels(mask[b], p)
        N = label.numel()
        eye = torch.eye(N, dtype=torch.bool)
        same = label[:, None] == label[None, :]
        positive = (same & ~eye).float()
        negative = (~same).float()
        positive_count = positive.sum(dim=1, keepdim=True)

        z = patch_vectors(x, p)
        s = (z @ z.t()) / t
        if variant == "exact":
            per_anchor = exact_anchor_loss(s, positive, negative, positive_count)
        else:
            per_anchor = cflnet_anchor_loss(s, positive, negative, positive_count, eye)
        loss = per_anchor.mean() / B
        loss.backward()
        total += loss.item()
        grads.append(x.grad)
    return total, torch.stack(grads)


def queries_and_keys(mask_image, b, sample):
    if sample is not None:
        return (torch.tensor(sample["pristine"][b], dtype=torch.long),
                torch.tensor(sample["forged"][b], dtype=torch.long))
    m = mask_image.flatten()
    # exact equality: fractional mask values belong to neither set
    return torch.nonzero(m == 0).flatten(), torch.nonzero(m == 1).flatten()


def info_nce(features, mask, t, positive, sample):
    """Mean over used images (J >= 2 and M >= 1) of the per-image InfoNCE."""
    B, C = features.shape[:2]
    lists = [queries_and_keys(mask[b], b, sample) for b in range(B)]
    used = [len(q) >= 2 and len(k) >= 1 for q, k in lists]
    num_used = sum(used)
    grads, total = [], 0.0
    for b in range(B):
        x = features[b].detach().requires_grad_(True)
        if not used[b]:
            grads.append(torch.zeros_like(x))
            continue
        q_idx, k_idx = lists[b]
        pixels = x.reshape(C, -1)
        u = F.normalize(pixels[:, q_idx].t(), dim=1, eps=1e-12)  # (J, C)
        k = F.normalize(pixels[:, k_idx].t(), dim=1, eps=1e-12)  # (M, C)
        J = u.shape[0]
        negatives = (u @ k.t()) / t
        if positive == "mean-logit":
            # O(J*C): (u . S - u . u) / (J - 1), with the actual u . u
            self_dot = (u * u).sum(dim=1, keepdim=True)
            l0 = ((u @ u.sum(dim=0, keepdim=True).t()) - self_dot) / ((J - 1) * t)
        else:
            logits = (u @ u.t()) / t
            off = logits.masked_fill(torch.eye(J, dtype=torch.bool), float("-inf"))
            l0 = torch.logsumexp(off, dim=1, keepdim=True) - torch.log(torch.tensor(J - 1.0))
        per_query = torch.logsumexp(torch.cat([l0, negatives], dim=1), dim=1) - l0[:, 0]
        loss = per_query.mean() / num_used
        loss.backward()
        total += loss.item()
        grads.append(x.grad)
    return total, torch.stack(grads)


# ---------------------------------------------------------------------------
# Running and timing

def make_runner(meta, arrays, variant):
    """A closure doing one forward + backward; returns (loss, grad)."""
    opts = meta["options"]
    if meta["loss"] == "cross_entropy":
        weight = torch.tensor(opts["weight"], dtype=torch.float32)
        target = arrays["target"].long()

        def run():
            logits = arrays["logits"].detach().requires_grad_(True)
            return cross_entropy(logits, target, weight), logits.grad
        return run
    if meta["loss"] == "patch_contrast":
        return lambda: patch_contrast(arrays["features"], arrays["mask"][:, 0], opts["patch_size"],
                                      opts["temperature"], variant)
    if meta["loss"] == "info_nce":
        return lambda: info_nce(arrays["features"], arrays["mask"][:, 0], opts["temperature"],
                                variant, meta["sample"])
    raise ValueError(f"unknown loss {meta['loss']}")


def time_variant(run, runs, warmup):
    loss, grad = run()  # the first call (allocator, thread pool); also the reported result
    for _ in range(warmup - 1):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000.0)
    return loss, grad, (statistics.median(times) if times else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("case_dir")
    parser.add_argument("--runs", type=int, default=5, help="timed runs after the warm-up (0: just compute)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls before the runs (at least 1)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--grad-out", help="directory for <variant>.grad.bin files")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    meta, arrays = load_case(args.case_dir)
    for variant in meta["variants"]:
        loss, grad, median_ms = time_variant(make_runner(meta, arrays, variant), args.runs, args.warmup)
        if args.grad_out:
            os.makedirs(args.grad_out, exist_ok=True)
            # numpy is a dependency of Debian's python3-torch
            grad.detach().contiguous().numpy().tofile(os.path.join(args.grad_out, f"{variant}.grad.bin"))
        print(json.dumps({
            "case": meta["name"], "variant": variant, "loss": loss,
            "median_ms": median_ms, "runs": args.runs,
            "torch_version": torch.__version__, "threads": torch.get_num_threads(),
        }), flush=True)


if __name__ == "__main__":
    main()
