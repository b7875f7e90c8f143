"""Ways to run K independent 4 x 4, stride-2 convolutions, per layer shape and K.

For each layer of the MNIST convolutional pair (batch 64) and K in {1, 3}: forward +
backward (weight, bias and, except for the first layer, input gradients) of

* ``unfold``: im2col, one batched matmul, ``fold`` (the engine's form before this
  benchmark);
* ``loop``: one ``F.conv2d`` / ``F.conv_transpose2d`` (oneDNN) per member;
* ``grouped``: one convolution with K groups over the members' channels;
* ``channels-last``: the loop on channels-last tensors;
* ``vmap``: ``torch.func.vmap`` of the one-member convolution over the member axis.

Printed as milliseconds and as a ratio to ``unfold`` measured in the same run.

    python bench/conv_layers.py [--threads T] [--repeats R]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

KERNEL, STRIDE, PADDING = 4, 2, 1
BATCH = 64
# (name, transposed, in channels, out channels, input side, output side, first layer: no input gradient)
LAYERS = [
    ("enc conv 1->32 28->14", False, 1, 32, 28, 14, True),
    ("enc conv 32->64 14->7", False, 32, 64, 14, 7, False),
    ("dec convT 64->32 7->14", True, 64, 32, 7, 14, False),
    ("dec convT 32->1 14->28", True, 32, 1, 14, 28, False),
    # three-channel images (CIFAR's 32 x 32), to place the rule's threshold
    ("rgb conv 3->32 32->16", False, 3, 32, 32, 16, True),
    ("rgb convT 32->3 16->32", True, 32, 3, 16, 32, False),
    ("digits conv 32->64 4->2", False, 32, 64, 4, 2, False),
    ("digits convT 64->32 2->4", True, 64, 32, 2, 4, False),
]


def unfold_conv(x, w, b):  # w (K, C*16, out)
    k, bt, c, h, wd = x.shape
    cols = F.unfold(x.reshape(k * bt, c, h, wd), KERNEL, padding=PADDING, stride=STRIDE)
    blocks = cols.shape[-1]
    cols = cols.reshape(k, bt, -1, blocks).transpose(2, 3).reshape(k, bt * blocks, -1)
    y = torch.baddbmm(b.unsqueeze(1), cols, w)
    return y.reshape(k, bt, h // STRIDE, wd // STRIDE, -1).permute(0, 1, 4, 2, 3)


def unfold_convt(x, w, b, size):  # w (K, C, out*16)
    k, bt, c, h, wd = x.shape
    cols = torch.bmm(x.permute(0, 1, 3, 4, 2).reshape(k, bt * h * wd, c), w)
    cols = cols.reshape(k * bt, h * wd, -1).transpose(1, 2)
    y = F.fold(cols, size, KERNEL, padding=PADDING, stride=STRIDE)
    out = w.shape[2] // KERNEL**2
    return y.reshape(k, bt, out, *size) + b[:, None, :, None, None]


def torch_weight(w, transposed, c, out):
    """(K, ...) engine layout to (K, ...) torch layout."""
    if transposed:
        return w.reshape(w.shape[0], c, out, KERNEL, KERNEL)
    return w.transpose(1, 2).reshape(w.shape[0], out, c, KERNEL, KERNEL)


def run_loop(x, w, b, transposed, c, out, size, memory_format=None):
    tw = torch_weight(w, transposed, c, out)
    ys = []
    for k in range(x.shape[0]):
        xk, wk = x[k], tw[k]
        if memory_format is not None:
            xk, wk = xk.contiguous(memory_format=memory_format), wk.contiguous(memory_format=memory_format)
        if transposed:
            ys.append(
                F.conv_transpose2d(xk, wk, b[k], STRIDE, PADDING, output_padding=size[0] - 2 * x.shape[3])
            )
        else:
            ys.append(F.conv2d(xk, wk, b[k], STRIDE, PADDING))
    return torch.stack(ys)


def run_grouped(x, w, b, transposed, c, out, size):
    k, bt, _, h, wd = x.shape
    tw = torch_weight(w, transposed, c, out)
    xg = x.transpose(0, 1).reshape(bt, k * c, h, wd)
    if transposed:
        y = F.conv_transpose2d(
            xg,
            tw.reshape(k * c, out, KERNEL, KERNEL),
            b.reshape(-1),
            STRIDE,
            PADDING,
            output_padding=size[0] - 2 * h,
            groups=k,
        )
    else:
        y = F.conv2d(xg, tw.reshape(k * out, c, KERNEL, KERNEL), b.reshape(-1), STRIDE, PADDING, groups=k)
    return y.reshape(bt, k, out, *y.shape[2:]).transpose(0, 1)


def run_vmap(x, w, b, transposed, c, out, size):
    tw = torch_weight(w, transposed, c, out)
    if transposed:
        pad = size[0] - 2 * x.shape[3]
        return torch.func.vmap(lambda xi, wi, bi: F.conv_transpose2d(xi, wi, bi, STRIDE, PADDING, pad))(
            x, tw, b
        )
    return torch.func.vmap(lambda xi, wi, bi: F.conv2d(xi, wi, bi, STRIDE, PADDING))(x, tw, b)


def method_fn(name, transposed, c, out, size):
    if name == "unfold":
        return (lambda x, w, b: unfold_convt(x, w, b, size)) if transposed else unfold_conv
    if name == "loop":
        return lambda x, w, b: run_loop(x, w, b, transposed, c, out, size)
    if name == "channels-last":
        return lambda x, w, b: run_loop(x, w, b, transposed, c, out, size, torch.channels_last)
    if name == "grouped":
        return lambda x, w, b: run_grouped(x, w, b, transposed, c, out, size)
    if name == "vmap":
        return lambda x, w, b: run_vmap(x, w, b, transposed, c, out, size)
    raise ValueError(name)


METHODS = ("unfold", "loop", "grouped", "channels-last", "vmap")


def time_method(fn, x, w, b, repeats: int) -> float:
    def once():
        for t in (x, w, b):
            t.grad = None
        y = fn(x, w, b)
        (y * y).sum().backward()

    for _ in range(3):
        once()
    start = time.perf_counter()
    for _ in range(repeats):
        once()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {BATCH}, ms per forward + backward")
    print(f"{'layer':26s} {'K':>2s} " + " ".join(f"{m:>18s}" for m in METHODS))
    g = torch.Generator().manual_seed(0)
    for name, transposed, c, out, side, out_side, first in LAYERS:
        for k in (1, 3):
            x = torch.randn(k, BATCH, c, side, side, generator=g).requires_grad_(not first)
            w_shape = (k, c, out * KERNEL**2) if transposed else (k, c * KERNEL**2, out)
            w = (0.1 * torch.randn(*w_shape, generator=g)).requires_grad_()
            b = torch.zeros(k, out).requires_grad_()
            times = {}
            for m in METHODS:
                times[m] = time_method(
                    method_fn(m, transposed, c, out, (out_side, out_side)), x, w, b, args.repeats
                )
            base = times["unfold"]
            cells = " ".join(f"{times[m]:7.2f} ({base / times[m]:4.2f}x)  " for m in METHODS)
            print(f"{name:26s} {k:2d} {cells}", flush=True)


if __name__ == "__main__":
    main()
