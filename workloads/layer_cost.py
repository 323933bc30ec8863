"""The cost of a transformer layer's forward pass on one GPU: one model for training and serving.

Vocabulary:
- forward ops: ``forward_ops(model, i, tokens, shard, precision)``: the operations of layer
  ``i``'s forward pass on one GPU (``ModelSpec.layer_ops``) for ``tokens`` query tokens, each
  with its precision, plus the low-precision overhead ops. A training micro-batch is a forward
  pass over b x s tokens (keys from the layer's own QKV GEMM); a serving prefill chunk is the
  same pass; a decode step is a forward pass of one token per sequence whose attention reads
  the KV cache. Both workloads price these ops with one ``sim.compute.ComputeModel``.
- precision per op (``op_precision``): tensor-core GEMMs run at the run's precision; fused
  attention runs at 16 bit in training (FlashAttention / cuDNN under Transformer Engine's
  fp8 recipes keep attention in bf16) and at the KV precision in serving (fp8 attention kernels
  read an fp8 KV cache); norms, softmax, residual adds and activations are memory-bound 16-bit
  kernels (their bytes carry the precision).
- fp8/fp4 overhead ops (Transformer Engine, delayed scaling): every low-precision GEMM needs its
  operands cast; the casts are memory-bound ops over the tensors they touch, with the amax
  reduction fused into the cast (TE's ``cast_transpose``): forward, the input activation
  (read 2 B, write the fp8 copy and its transpose for the weight gradient: 1 + 1 B per element;
  no transpose on Blackwell, whose FP8 GEMMs read the one copy in every layout)
  and the weight (the same 4 B per element; with sharded data parallelism the 16-bit weights
  are gathered for every pass, so the cast repeats per micro-batch; otherwise TE caches the fp8
  weight after a step's first micro-batch, ``weight_fraction`` = 1/m); backward, the output
  gradient (4 B per element). Plus ``fp8_meta_kernels`` small kernels per GEMM and pass (scale
  and amax-history updates). fp4 (Blackwell NVFP4) the same with 0.5 B elements and a block
  scale every 16 (``FP4_BYTES``), plus the read of each tensor for its per-tensor amax (NVFP4's
  two-level scaling computes it before the cast).
- ``LayerCost``: the same forward ops of one pipeline stage in linear form for serving's
  per-iteration batches: every op except the attention core is affine in the query tokens T
  (FLOPs, bytes and exponentials ``c0 + c1 T``; a GEMM's token dimension ``d1 T``), so the
  stage is priced on Python floats without rebuilding the op list; the attention op is priced
  from the batch's query-key pairs and KV-cache reads. An MoE layer's experts run as one
  grouped GEMM over the experts the batch touches (``grouped_experts``).

Where training and serving still differ, on purpose (physics of the workload, not of the layer):
attention's keys come from the KV cache in serving (``kv_read`` tokens at the KV precision,
over ``kv_read_efficiency``) and from the QKV GEMM in training; serving runs the LM head on the
sampled rows only (training on every token, with the loss); an MoE layer in serving reads only
the experts its tokens route to (E (1 - (1 - k/E)^T) of them), in training every local expert.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sim.compute import ComputeModel, Op
from workloads.model import ACT_BYTES, ModelSpec, Shard

LOW_PRECISION = ("fp8", "fp4")
ATTENTION_CORE = ("attention", "attn_scores", "softmax", "attn_values")
# memory ops over an MoE layer's routed (token, expert) copies on the GPU holding the experts
ROUTED_COPY_OPS = ("permute", "unpermute")
# bytes per element of a low-precision copy (fp4: 4 bits + one fp8 block scale per 16 elements)
FP4_BYTES = 0.5 + 1.0 / 16
FP8_META_KERNELS = 2.0      # scale / amax-history update kernels per low-precision GEMM and pass
# fewest token rows a GEMM launch's tensor-core tile issues: decode GEMMs put the tokens in the
# MMA's N dimension (swap-AB small-M kernels), whose minimum is 8 (Hopper wgmma m64nNk16, N a
# multiple of 8 from 8; mma.sync m16n8k16). A launch over fewer tokens costs its tensor work as 8
# rows: the measured bf16 GEMMs of Llama-shaped weights take the same time at M = 1 as at M = 8
# (sim/data/measured/*/gemm.csv, ``decode:`` rows; e.g. H100 4096 x 6144: 30.7 vs 29.0 us)
MMA_MIN_TOKENS = 8.0


def op_precision(op: Op, precision: str, attention_precision: str) -> str:
    """The precision ``op`` runs at in a run at ``precision``."""
    if op.kind == "gemm":
        return precision
    if op.kind in ("attention", "attention_bwd"):
        return attention_precision
    return ""


def _low_bytes(precision: str) -> float:
    return FP4_BYTES if precision == "fp4" else 1.0


def cast_ops(gemm: Op, precision: str, backward: bool = False, weight_fraction: float = 1.0,
             transpose: bool = True) -> list[Op]:
    """The overhead ops one low-precision GEMM ``gemm`` (dims (m, k, n) per launch, ``count``
    launches) adds to its pass: casts with fused amax and transposes (see the module text).
    ``weight_fraction``: the share of passes that cast the weight (1: every pass, as under
    FSDP; 1/m when the fp8 copy is cached over a step's m micro-batches). ``transpose``: the
    cast also writes the transposed copy the other GEMMs read (False: a tensor-scaled fp8 copy
    on a GPU whose FP8 GEMMs take every layout, Blackwell; fp4's block scales run along one
    dimension, so its columnwise copy is always written)."""
    if precision not in LOW_PRECISION or gemm.kind != "gemm" or not gemm.dims:
        return []
    m, k, n = gemm.dims
    lb = _low_bytes(precision)
    # read 16 bit, write the copy and its transpose
    per_elem = ACT_BYTES + (2 if transpose or precision != "fp8" else 1) * lb
    if precision == "fp4":
        # NVFP4 scales in two levels: a per-tensor fp32 scale from the tensor's amax (a read of
        # the 16-bit tensor before the cast, no history as in fp8's delayed scaling) over the
        # per-block e4m3 scales
        per_elem += ACT_BYTES
    c = gemm.count
    if backward:
        elems = m * n * c                   # the output gradient
    else:
        elems = m * k * c + weight_fraction * k * n * c     # the input activation and the weight
    return [Op(f"{precision}_cast_{gemm.name}" + ("_bwd" if backward else ""), 0.0, per_elem * elems, 0.0,
               "memory", max(int(c), 1)),
            Op(f"{precision}_meta_{gemm.name}" + ("_bwd" if backward else ""), 0.0, 0.0, 0.0, "memory",
               int(FP8_META_KERNELS * max(c, 1)))]


def forward_ops(model: ModelSpec, i: int, micro_batch: int, shard: Shard, precision: str,
                attention: str = "flash", seq: int | None = None,
                attention_precision: str = "bf16", casts: bool = True, weight_fraction: float = 1.0,
                transpose: bool = True) -> list[Op]:
    """Layer ``i``'s forward ops on one GPU for ``micro_batch`` sequences of ``seq`` tokens,
    each at its precision, plus the low-precision casts of its GEMMs (``casts``: training
    frameworks cast at run time; inference engines store quantized weights and fuse the
    activation quantization into the preceding kernel, so serving passes False; ``transpose``:
    see ``cast_ops``)."""
    out = []
    for o in model.layer_ops(i, micro_batch, shard, attention, seq):
        p = op_precision(o, precision, attention_precision)
        out.append(replace(o, precision=p) if p and p != o.precision else o)
        if casts and o.kind == "gemm":
            out.extend(cast_ops(o, precision, weight_fraction=weight_fraction, transpose=transpose))
    return out


def backward_cast_ops(fwd: list[Op], precision: str, transpose: bool = True) -> list[Op]:
    """The backward pass's casts of the output gradient of every low-precision GEMM in ``fwd``."""
    return [c for o in fwd if o.kind == "gemm" for c in cast_ops(o, precision, backward=True, transpose=transpose)]


@dataclass(frozen=True, slots=True)
class LinearOp:
    """An op of a layer whose work is affine in the batch's query tokens T: FLOPs ``f1 T``,
    bytes ``b0 + b1 T`` (``b0``: weights read once), exponentials ``x1 T``; a GEMM's
    per-launch token dimension ``d1 T`` (0: no shape), its other dimensions' minimum ``dmin``."""
    name: str
    kind: str
    count: float
    f1: float
    b0: float
    b1: float
    x1: float
    d1: float
    dmin: float
    rate: float
    expert: bool            # an MoE expert GEMM (serving scales its weight reads)
    k: float = 0.0          # a GEMM's reduction dimension per launch (0: not a GEMM)
    # the GEMM stores its 2-byte output after its MMA instead of overlapping it (serving's
    # block-scaled FP8 kernels on Hopper): seconds = max(MMA + store, all bytes at HBM rate)
    serial_store: bool = False
    # a weight-only (mixed-input) kernel below its large-M tile (serving's ``_mixed_layers``):
    # ``dequant_s`` seconds per weight byte per M tile of ``m_tile`` rows (each weight tile upcast
    # once per M tile), the MMA over the padded rows at ``rate`` (the dense curve); seconds =
    # max(weight + activation bytes at HBM rate, dequant + MMA) (0: not such a kernel)
    dequant_s: float = 0.0
    m_tile: float = 0.0


class LayerCost:
    """Seconds of the forward ops of ``layers`` layers (of each kind, dense and MoE) on one GPU
    for a batch of ``tokens`` query tokens, attention excluded (priced per batch by the
    caller), on Python floats. ``layer_mix``: {layer index: number of such layers}."""

    PROBE = (64.0, 128.0)

    def __init__(self, model: ModelSpec, cm: ComputeModel, shard: Shard, layer_mix: dict[int, float],
                 precision: str, casts: bool = False, grouped_experts: bool = True):
        self.cm = cm
        # inference engines run an MoE layer's experts as one grouped GEMM (fused MoE kernels):
        # one launch whose efficiency follows the whole layer's work, each expert's tile rows
        # its own tokens (the narrow-GEMM term)
        self.grouped = grouped_experts
        self.ops: list[tuple[LinearOp, float]] = []
        t1, t2 = self.PROBE
        for i, n_layers in layer_mix.items():
            if n_layers <= 0:
                continue
            a = forward_ops(model, i, 1, shard, precision, "flash", int(t1), casts=casts)
            b = forward_ops(model, i, 1, shard, precision, "flash", int(t2), casts=casts)
            for o1, o2 in zip(a, b):
                if o1.name in ATTENTION_CORE:
                    continue
                f1 = o2.flops / t2
                b1 = (o2.bytes - o1.bytes) / (t2 - t1)
                d1 = o1.dims[0] / t1 if o1.kind == "gemm" and o1.dims else 0.0
                dmin = float(min(o1.dims[1:])) if d1 else 0.0
                lin = LinearOp(o1.name, o1.kind, float(o1.count), f1, o1.bytes - b1 * t1, b1,
                               o2.exps / t2, d1, dmin, cm.rate(o1.precision), o1.name.startswith("expert_"),
                               float(o1.dims[1]) if d1 else 0.0)
                self.ops.append((lin, float(n_layers)))

    def seconds(self, tokens: float, expert_fraction: float = 1.0, expert_padding: float = 0.0,
                expert_load: float = 1.0, out: list | None = None) -> float:
        """Forward seconds of the layers' non-attention ops for ``tokens`` query tokens. Expert
        GEMMs run only on the ``expert_fraction`` of the experts that tokens route to (serving's
        touched experts): that many launches, reading their weights, each over the tokens
        routed to it (at least one). ``expert_padding`` (> 0): the expert GEMMs' issued token
        rows over their routed rows (a fused-MoE kernel's M-tile padding, serving's
        ``fused_moe.row_padding``), which then replaces the ``MMA_MIN_TOKENS`` floor for them.
        ``expert_load`` (>= 1): the routed rows this GPU's experts receive over the balanced
        ``top_k`` x tokens (serving's most loaded expert-parallel rank, ``fused_moe.rank_load_factor``):
        the expert ops and the permute / unpermute of the routed copies run on that many times the
        rows; their weight reads do not change. ``out`` (a list): each op's ``(name, seconds)`` over
        the layers is appended to it (an op breakdown; the total is unchanged)."""
        T0 = float(tokens)
        Te = T0 * expert_load
        time_of = self.cm.time_of
        total = 0.0
        for o, n in self.ops:
            b0, count, d1 = o.b0, o.count, o.d1
            T = Te if (o.expert or o.name in ROUTED_COPY_OPS) else T0
            if o.expert:
                if expert_fraction < 1.0:
                    b0, count, d1 = b0 * expert_fraction, max(count * expert_fraction, 1.0), d1 / expert_fraction
                if self.grouped:
                    count = 1.0
            d, f = 0.0, o.f1 * T
            if d1 and expert_padding > 0.0 and o.expert:
                # the kernel's tiles issue the padded rows: FLOPs and rows per expert of the tiles
                f, d = f * expert_padding, d1 * T * expert_padding
                d = MMA_MIN_TOKENS if d < MMA_MIN_TOKENS else d
                d = d if d < o.dmin else o.dmin
            elif d1:
                d = d1 * T
                if d < MMA_MIN_TOKENS:          # the tile's rows are issued anyway (see MMA_MIN_TOKENS)
                    f, d = f * (MMA_MIN_TOKENS / d if d > 0.0 else 0.0), MMA_MIN_TOKENS
                d = d if d < o.dmin else o.dmin
            if o.dequant_s > 0.0 and expert_padding > 0.0 and o.expert and d1:
                # weight-only kernel at small M: the read and (dequant + MMA) overlap
                tiles = d1 * T * expert_padding / o.m_tile
                deq = b0 * (tiles if tiles > 1.0 else 1.0) * o.dequant_s / self.cm.speed
                tc = time_of(f, 0.0, o.x1 * T, 0, count, d, o.rate) + deq
                t = time_of(0.0, b0 + o.b1 * T, 0.0, 0, count)
                t = tc if tc > t else t
            else:
                t = time_of(f, b0 + o.b1 * T, o.x1 * T, 0, count, d, o.rate)
            if o.serial_store and f > 0.0:
                # the output rows (f / k bytes at 2 bytes per element) stored after the MMA
                cm, store = self.cm, f / o.k
                s = store / count
                e = cm.eff
                ts = store / (cm.gpu.hbm_Bps * e.hbm_eff_max * s / (s + e.hbm_half_bytes)) / cm.speed
                tc = time_of(f, 0.0, o.x1 * T, 0, count, d, o.rate) + ts
                t = tc if tc > t else t
            total += n * t
            if out is not None:
                out.append((o.name, n * t))
        return total

    def op_seconds(self, names, tokens: float, expert_fraction: float = 1.0, expert_padding: float = 0.0,
                   expert_load: float = 1.0) -> float:
        """Seconds of one layer's ops named in ``names`` (a set of op names), arguments as
        ``seconds``: each op once, whatever the number of layers it stands for."""
        out: list = []
        self.seconds(tokens, expert_fraction, expert_padding, expert_load, out=out)
        return sum(t / n for (name, t), (_, n) in zip(out, self.ops) if name in names and n > 0)
