"""Measure one GPU's kernels with PyTorch, to calibrate and validate dcsim's compute model.

Run on a machine with a CUDA GPU (never in CI):

    python benchmarks/gpu/measure.py --out DIR [--sections hbm,gemm,fp8,attention,serving,layer]

Every table is a CSV in DIR; each row says what ran, its size and the median time. All data is
random (never zeros: zeros run faster on tensor cores). Timing follows the usual method:
warm-up first, CUDA events, median of many repetitions; ``triton.testing.do_bench`` flushes the
L2 cache before every repetition, so kernels read their inputs from HBM as they do inside a
real model whose working set is far larger than L2.

Tables (vocabulary):
- ``hbm.csv``: device-to-device copies (``copy``: bytes = read + written) and eager PyTorch
  memory-bound ops (``rms_norm``, ``layer_norm``, ``add``, ``gelu``, ``silu_mul``) against the
  bytes they must move.
- ``gemm.csv``: ``F.linear`` products (m tokens, k inputs, n outputs) in bf16 and fp8
  (``torch._scaled_mm``, e4m3 with per-tensor scales, bf16 output). ``role`` says which layer
  GEMM the shape stands for: fwd, dgrad (input gradient) or wgrad (weight gradient), the
  square sweep, or decode (few tokens, weight-bound).
- ``attention.csv``: causal ``scaled_dot_product_attention`` forward and backward, head dim 128,
  per backend (flash, cudnn), with the FLOPs executed (causal: half the score matrix).
- ``serving.csv``: a Llama-3-8B-shaped model (32 layers, hidden 4096, GQA 32/8, gated MLP 14336,
  vocabulary 128,256) in bf16 with random weights: prefill of one prompt and decode steps of a
  batch against a KV cache, eager and replayed from a CUDA graph (what serving engines do).
- ``layer.csv``: forward and forward+backward of GPT-style (Megatron) transformer layers, one
  GPU's tensor-parallel shard (hidden h, heads h/128 split by tp, MLP 4h split by tp), eager and
  from CUDA graphs, per layer (a stack of 4 timed together).
- ``info.json``: device, driver, PyTorch, clocks.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
import traceback

import torch
import torch.nn.functional as F
from triton.testing import do_bench

DEV = "cuda"
BF16 = torch.bfloat16


def bench(fn, warmup=10, rep=40) -> float:
    """Median seconds of ``fn`` with the L2 flushed before each repetition."""
    return do_bench(fn, warmup=warmup, rep=rep, return_mode="median") * 1e-3


def graph_time(fn, reps=20, trials=7) -> float:
    """Median seconds per replay of ``fn`` captured in a CUDA graph (no host launch gaps)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    for _ in range(3):
        g.replay()
    times = []
    for _ in range(trials):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(reps):
            g.replay()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) * 1e-3 / reps)
    del g
    return sorted(times)[len(times) // 2]


class Table:
    def __init__(self, path, fields):
        self.path, self.fields = path, fields
        self.f = open(path, "w", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=fields)
        self.w.writeheader()
        self.rows = 0

    def add(self, **row):
        self.w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        self.f.flush()
        self.rows += 1


def randn(*shape, dtype=BF16, scale=1.0):
    return (torch.randn(*shape, device=DEV, dtype=torch.float32) * scale).to(dtype)


# -- HBM and memory-bound ops -----------------------------------------------------------------
def run_hbm(out):
    t = Table(os.path.join(out, "hbm.csv"), ["op", "elements", "bytes", "time_s", "GBps"])
    for k in range(14, 31, 1):           # 16 KiB .. 2 GiB of bf16 per buffer
        n = 2 ** k // 2
        a, b = randn(n), torch.empty(n, device=DEV, dtype=BF16)
        s = bench(lambda: b.copy_(a))
        t.add(op="copy", elements=n, bytes=4 * n, time_s=s, GBps=4 * n / s / 1e9)
        del a, b
    h = 4096
    for tokens in (256, 1024, 4096, 16384, 65536):
        n = tokens * h
        x, y = randn(tokens, h), randn(tokens, h)
        w, bias = randn(h), randn(h)
        cases = {
            "rms_norm": (lambda: F.rms_norm(x, (h,), w), 4 * n),           # read x, write y
            "layer_norm": (lambda: F.layer_norm(x, (h,), w, bias), 4 * n),
            "add": (lambda: x + y, 6 * n),                                  # read 2, write 1
            "gelu": (lambda: F.gelu(x), 4 * n),
        }
        g2 = randn(tokens, 2 * h)
        cases["silu_mul"] = (lambda: F.silu(g2[:, :h]) * g2[:, h:], 6 * n)
        for name, (fn, nbytes) in cases.items():
            s = bench(fn)
            t.add(op=name, elements=n, bytes=nbytes, time_s=s, GBps=nbytes / s / 1e9)
        del x, y, g2
    return t.rows


# -- GEMMs -------------------------------------------------------------------------------------
def gemm_shapes():
    """(role, m, k, n) of the products a transformer layer runs, forward and backward."""
    shapes = [("square", d, d, d) for d in (256, 512, 1024, 2048, 4096, 8192, 16384)]
    for h in (2048, 4096, 8192, 12288):
        for tp in (1, 2, 4, 8):
            for tokens in (2048, 8192):
                for name, k, n in (("qkv", h, 3 * h // tp), ("proj", h // tp, h),
                                   ("fc1", h, 4 * h // tp), ("fc2", 4 * h // tp, h)):
                    shapes.append((f"fwd:{name}:h{h}:tp{tp}", tokens, k, n))
                    shapes.append((f"dgrad:{name}:h{h}:tp{tp}", tokens, n, k))
                    shapes.append((f"wgrad:{name}:h{h}:tp{tp}", n, tokens, k))
    for k, n in ((4096, 6144), (4096, 28672), (14336, 4096), (8192, 10240), (8192, 57344),
                 (28672, 8192)):
        for m in (1, 8, 16, 32, 64, 128, 256, 512, 1024):
            shapes.append((f"decode:{k}x{n}", m, k, n))
    return shapes


def run_gemm(out, fp8: bool):
    name = "gemm_fp8.csv" if fp8 else "gemm.csv"
    t = Table(os.path.join(out, name),
              ["dtype", "role", "m", "k", "n", "flops", "bytes", "time_s", "TFLOPs"])
    for role, m, k, n in gemm_shapes():
        if fp8 and (role.startswith("wgrad") or role.startswith("dgrad")):
            continue                     # fp8 is measured for inference-style products
        mm = max(m, 16) if fp8 else m    # _scaled_mm wants dims divisible by 16
        try:
            if fp8:
                a = randn(mm, k).to(torch.float8_e4m3fn)
                w = randn(n, k).to(torch.float8_e4m3fn)
                one = torch.ones((), device=DEV, dtype=torch.float32)
                fn = lambda: torch._scaled_mm(a, w.t(), scale_a=one, scale_b=one, out_dtype=BF16)
                nbytes = mm * k + k * n + 2 * mm * n
            else:
                a, w = randn(mm, k), randn(n, k)
                fn = lambda: F.linear(a, w)
                nbytes = 2 * (mm * k + k * n + mm * n)
            s = bench(fn)
            flops = 2.0 * mm * k * n
            t.add(dtype="fp8" if fp8 else "bf16", role=role, m=mm, k=k, n=n, flops=flops,
                  bytes=nbytes, time_s=s, TFLOPs=flops / s / 1e12)
            del a, w
        except Exception as e:            # one bad shape must not lose the table
            print(f"gemm {role} {m}x{k}x{n} fp8={fp8}: {e}", file=sys.stderr)
    return t.rows


# -- attention ---------------------------------------------------------------------------------
def run_attention(out):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    t = Table(os.path.join(out, "attention.csv"),
              ["backend", "pass", "batch", "heads", "seq", "head_dim", "flops", "time_s", "TFLOPs"])
    backends = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION}
    d = 128
    for seq in (512, 1024, 2048, 4096, 8192):
        for heads in (4, 8, 16, 32, 64):
            for tokens in (8192, 32768):
                b = max(tokens // seq, 1)
                q, k, v = (randn(b, heads, seq, d).requires_grad_() for _ in range(3))
                g = randn(b, heads, seq, d)
                fwd_flops = 4.0 * b * heads * seq * seq * d / 2      # QK^T and AV, causal half
                for bname, be in backends.items():
                    try:
                        with sdpa_kernel(be):
                            fwd = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)
                            s_f = bench(fwd)
                            o = fwd()
                            bwd = lambda: torch.autograd.grad(o, (q, k, v), g, retain_graph=True)
                            s_b = bench(bwd)
                        t.add(backend=bname, **{"pass": "fwd"}, batch=b, heads=heads, seq=seq,
                              head_dim=d, flops=fwd_flops, time_s=s_f, TFLOPs=fwd_flops / s_f / 1e12)
                        t.add(backend=bname, **{"pass": "bwd"}, batch=b, heads=heads, seq=seq,
                              head_dim=d, flops=2.5 * fwd_flops, time_s=s_b,
                              TFLOPs=2.5 * fwd_flops / s_b / 1e12)
                        del o
                    except Exception as e:
                        print(f"attention {bname} b{b} H{heads} s{seq}: {e}", file=sys.stderr)
                del q, k, v, g
    return t.rows


# -- serving: a Llama-3-8B-shaped model ----------------------------------------------------------
LLAMA8B = dict(layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128, ffn=14336, vocab=128256)


_GQA = {}


def gqa_attention(q, k, v):
    """Causal attention of more query heads than KV heads: SDPA's own GQA on a fused backend
    if this PyTorch has it, else the KV heads repeated (an extra copy, noted in the table)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    fused = [SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]
    if _GQA.get("native", True):
        try:
            with sdpa_kernel(fused):
                return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        except Exception as e:
            print(f"native GQA unavailable ({e}); repeating KV heads", file=sys.stderr)
            _GQA["native"] = False
    r = q.shape[1] // k.shape[1]
    with sdpa_kernel(fused):
        return F.scaled_dot_product_attention(q, k.repeat_interleave(r, 1), v.repeat_interleave(r, 1),
                                              is_causal=True)


class Llama:
    """Random bf16 weights of a Llama 3 8B-shaped decoder; forward passes without a framework."""

    def __init__(self, cfg):
        self.c = c = cfg
        h, d = c["hidden"], c["head_dim"]
        qkv = (c["heads"] + 2 * c["kv_heads"]) * d
        self.layers = [dict(n1=randn(h), wqkv=randn(qkv, h, scale=0.02), wo=randn(h, c["heads"] * d, scale=0.02),
                            n2=randn(h), wgu=randn(2 * c["ffn"], h, scale=0.02), wd=randn(h, c["ffn"], scale=0.02))
                       for _ in range(c["layers"])]
        self.norm = randn(h)
        self.lm = randn(c["vocab"], h, scale=0.02)

    def weight_bytes(self):
        n = sum(w.numel() for L in self.layers for w in L.values()) + self.lm.numel() + self.norm.numel()
        return 2 * n

    def _mlp(self, L, x):
        gu = F.linear(F.rms_norm(x, (x.shape[-1],), L["n2"]), L["wgu"])
        g, u = gu.chunk(2, dim=-1)
        return x + F.linear(F.silu(g) * u, L["wd"])

    def decode(self, x, kcache, vcache):
        """One token per sequence. x: (B, h); caches: per layer (B, kv, ctx, d), last slot new."""
        c = self.c
        B, h = x.shape
        H, KV, d = c["heads"], c["kv_heads"], c["head_dim"]
        for L, kc, vc in zip(self.layers, kcache, vcache):
            qkv = F.linear(F.rms_norm(x, (h,), L["n1"]), L["wqkv"])
            q = qkv[:, :H * d].view(B, KV, H // KV, d)        # GQA: a group's queries as rows
            kc[:, :, -1, :].copy_(qkv[:, H * d:(H + KV) * d].view(B, KV, d))
            vc[:, :, -1, :].copy_(qkv[:, (H + KV) * d:].view(B, KV, d))
            o = F.scaled_dot_product_attention(q, kc, vc)
            x = x + F.linear(o.reshape(B, H * d), L["wo"])
            x = self._mlp(L, x)
        logits = F.linear(F.rms_norm(x, (h,), self.norm), self.lm)
        return logits.argmax(dim=-1)

    def prefill(self, x):
        """One prompt. x: (1, P, h). Causal GQA attention; logits of the last position only."""
        c = self.c
        _, P, h = x.shape
        H, KV, d = c["heads"], c["kv_heads"], c["head_dim"]
        for L in self.layers:
            qkv = F.linear(F.rms_norm(x, (h,), L["n1"]), L["wqkv"])
            q = qkv[..., :H * d].view(1, P, H, d).transpose(1, 2)
            k = qkv[..., H * d:(H + KV) * d].view(1, P, KV, d).transpose(1, 2)
            v = qkv[..., (H + KV) * d:].view(1, P, KV, d).transpose(1, 2)
            o = gqa_attention(q, k, v)
            x = x + F.linear(o.transpose(1, 2).reshape(1, P, H * d), L["wo"])
            x = self._mlp(L, x)
        return F.linear(F.rms_norm(x[:, -1], (h,), self.norm), self.lm).argmax(dim=-1)


def run_serving(out):
    c = LLAMA8B
    t = Table(os.path.join(out, "serving.csv"),
              ["model", "phase", "mode", "batch", "context", "tokens", "weight_bytes", "kv_bytes",
               "time_s"])
    model = Llama(c)
    wb = model.weight_bytes()
    kv_per_token = c["layers"] * 2 * c["kv_heads"] * c["head_dim"] * 2
    with torch.no_grad():
        for P in (128, 256, 512, 1024, 2048, 4096, 8192):
            x = randn(1, P, c["hidden"])
            for mode in ("eager", "graph"):
                try:
                    s = bench(lambda: model.prefill(x), warmup=20, rep=100) if mode == "eager" \
                        else graph_time(lambda: model.prefill(x))
                    t.add(model="llama3-8b", phase="prefill", mode=mode, batch=1, context=P,
                          tokens=P, weight_bytes=wb, kv_bytes=kv_per_token * P, time_s=s)
                except Exception as e:
                    print(f"prefill P={P} {mode}: {e}", file=sys.stderr)
            del x
        for ctx in (512, 2048, 8192):
            for B in (1, 8, 32, 64, 128, 256):
                if B * ctx > 262144:
                    continue
                shape = (B, c["kv_heads"], ctx, c["head_dim"])
                kc = [randn(*shape) for _ in range(c["layers"])]
                vc = [randn(*shape) for _ in range(c["layers"])]
                x = randn(B, c["hidden"])
                for mode in ("eager", "graph"):
                    try:
                        fn = lambda: model.decode(x, kc, vc)
                        s = bench(fn, warmup=20, rep=100) if mode == "eager" else graph_time(fn)
                        t.add(model="llama3-8b", phase="decode", mode=mode, batch=B, context=ctx,
                              tokens=B, weight_bytes=wb, kv_bytes=kv_per_token * B * ctx, time_s=s)
                    except Exception as e:
                        print(f"decode B={B} ctx={ctx} {mode}: {e}", file=sys.stderr)
                del kc, vc, x
                torch.cuda.empty_cache()
    del model
    torch.cuda.empty_cache()
    return t.rows


# -- training: GPT-style layers -------------------------------------------------------------------
class GptLayer(torch.nn.Module):
    """A Megatron GPT layer's shard on one GPU of a TP group (no communication)."""

    def __init__(self, h, tp):
        super().__init__()
        self.heads = h // 128 // tp
        w = self.heads * 128
        self.ln1, self.ln2 = torch.nn.LayerNorm(h), torch.nn.LayerNorm(h)
        self.qkv = torch.nn.Linear(h, 3 * w)
        self.proj = torch.nn.Linear(w, h)
        self.fc1 = torch.nn.Linear(h, 4 * h // tp)
        self.fc2 = torch.nn.Linear(4 * h // tp, h)

    def forward(self, x):
        b, s, h = x.shape
        qkv = self.qkv(self.ln1(x)).view(b, s, 3, self.heads, 128).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
        x = x + self.proj(o.transpose(1, 2).reshape(b, s, self.heads * 128))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


def run_layer(out):
    t = Table(os.path.join(out, "layer.csv"),
              ["h", "tp", "micro_batch", "seq", "layers", "mode", "pass", "flops", "time_s",
               "TFLOPs"])
    depth = 4
    for h in (2048, 4096, 8192):
        for tp in (1, 2, 4, 8):
            for mb in (1, 2, 4, 8):
                seq = 2048
                if h == 8192 and tp == 1 and mb > 4:
                    continue
                try:
                    stack = torch.nn.Sequential(*[GptLayer(h, tp) for _ in range(depth)]).to(DEV, BF16)
                    for p in stack.parameters():
                        torch.nn.init.normal_(p, 0, 0.02)
                    x = randn(mb, seq, h).requires_grad_()
                    g = randn(mb, seq, h)
                    T = mb * seq
                    fwd_flops = depth * (24.0 * T * h * h / tp + 2.0 * T * seq * h / tp)   # causal half
                    params = list(stack.parameters())

                    def fwd():
                        return stack(x)

                    def step():
                        y = stack(x)
                        torch.autograd.backward(y, g)

                    s_f = bench(fwd)
                    s_fb = bench(step, warmup=20, rep=100)
                    rows = [("eager", "fwd", s_f, fwd_flops), ("eager", "fwd+bwd", s_fb, 3 * fwd_flops)]
                    try:
                        graphed = torch.cuda.make_graphed_callables(stack, (x,))

                        def gstep():
                            y = graphed(x)
                            torch.autograd.backward(y, g)
                        rows.append(("graph", "fwd+bwd", bench(gstep, warmup=20, rep=100), 3 * fwd_flops))
                        del graphed
                    except Exception as e:
                        print(f"layer graph h{h} tp{tp} mb{mb}: {e}", file=sys.stderr)
                    for mode, ps, s, fl in rows:
                        t.add(h=h, tp=tp, micro_batch=mb, seq=seq, layers=depth, mode=mode,
                              **{"pass": ps}, flops=fl / depth, time_s=s / depth,
                              TFLOPs=fl / s / 1e12)
                    for p in params:
                        p.grad = None
                    del stack, x, g, params
                    torch.cuda.empty_cache()
                except Exception as e:
                    print(f"layer h{h} tp{tp} mb{mb}: {e}", file=sys.stderr)
                    traceback.print_exc()
    return t.rows


def info(out):
    p = torch.cuda.get_device_properties(0)
    d = dict(device=torch.cuda.get_device_name(0), sms=p.multi_processor_count,
             memory_bytes=p.total_memory, torch=torch.__version__, cuda=torch.version.cuda,
             cudnn=torch.backends.cudnn.version(), date=time.strftime("%Y-%m-%d"))
    try:
        d["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,power.limit",
             "--format=csv,noheader"], capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception as e:
        d["nvidia_smi"] = str(e)
    with open(os.path.join(out, "info.json"), "w") as f:
        json.dump(d, f, indent=1)
    print(json.dumps(d))


SECTIONS = {"hbm": run_hbm, "gemm": lambda o: run_gemm(o, False), "fp8": lambda o: run_gemm(o, True),
            "attention": run_attention, "serving": run_serving, "layer": run_layer}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "gpu-out"))
    ap.add_argument("--sections", default=",".join(SECTIONS))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    info(args.out)
    for name in args.sections.split(","):
        t0 = time.time()
        try:
            rows = SECTIONS[name](args.out)
            print(f"{name}: {rows} rows in {time.time() - t0:.1f} s", flush=True)
        except Exception:
            print(f"{name}: FAILED after {time.time() - t0:.1f} s", flush=True)
            traceback.print_exc()
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
