"""The parallel plan: how a training job is split over GPUs, checked and placed.

Vocabulary:
- sizes: ``tp`` (tensor), ``cp`` (context), ``pp`` (pipeline), ``dp`` (data), ``ep`` (expert);
  world = tp x cp x pp x dp. Expert layers fold the same tp x cp x dp ranks of a pipeline stage
  differently (Megatron-Core parallel folding): ``etp`` (expert tensor parallel, default tp) x
  ``ep`` x ``edp`` (expert data parallel) = tp x cp x dp, expert ranks numbered etp fastest, then
  ep, over the stage's ranks in (tp, cp, dp) order. With etp = tp, cp = 1 this is the classic
  layout (EP carved out of runs of ``ep`` data-parallel ranks), so EP need not divide DP.
- rank order: the parallel dimensions from the innermost (stride 1) to the outermost; TP is
  always innermost so a TP group is a run of consecutive ranks, which the topology builders place
  inside one scale-up domain.
- coordinates: ``coords(rank) -> {"tp", "cp", "pp", "dp"}``; ``groups(dim)``: every group of ranks
  that differ only in ``dim`` (each a list of ranks, ordered by their coordinate in ``dim``).
- virtual stage: a model chunk; pipeline rank ``s`` holds chunks ``s, s + pp, ...`` (``v`` of them
  with the interleaved schedule). ``chunk_layers[c * pp + s]`` is the layer count of chunk c of
  stage s.
- microbatches ``m`` = global_batch / (micro_batch x dp), per pipeline per step.

A plan that cannot run raises ``InfeasibleError`` naming the constraint; a plan that is merely
slow (TP across scale-up domains) is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.config import zero_shards_nothing
from sim.errors import ConfigError, InfeasibleError
from workloads.model import ModelSpec, Shard


def split_layers(layers: int, chunks: int) -> list[int]:
    """Layers per virtual stage. Even when ``layers`` divides; otherwise, as Llama 3 did for 126
    layers on 16 stages, the first and last chunks (which also hold the embedding and the loss)
    take fewer: the first ceil(deficit / 2), the last floor(deficit / 2) layers fewer, each keeping
    at least one (Megatron's uneven first/last pipeline stages); anything else does not divide."""
    if chunks > layers:
        raise InfeasibleError("train.pp", f"{chunks} pipeline chunks (pp x virtual_stages) exceed {layers} layers")
    if layers % chunks == 0:
        return [layers // chunks] * chunks
    deficit = chunks - layers % chunks
    per = (layers + deficit) // chunks
    # Megatron's --decoder-first/last-pipeline-num-layers (and the pipeline layouts of the
    # Megatron-Bridge recipes, e.g. DeepSeek-V3's 61 layers): the first chunk gives up
    # ceil(deficit / 2) layers, the last floor(deficit / 2), each keeping at least one
    first, last = (deficit + 1) // 2, deficit // 2
    if per - first < 1 or chunks < 2:
        raise InfeasibleError("train.pp", f"layers ({layers}) do not divide into pp x virtual_stages = {chunks} "
                              "chunks (allowed: even, or fewer layers in the first and last chunk, at least one each)")
    out = [per] * chunks
    out[0] -= first
    out[-1] -= last
    return out


def split_stage_layers(layers: int, pp: int, v: int, first: int | None, last: int | None) -> list[int]:
    """Layers per virtual stage (``chunk_layers``, index ``c * pp + s``) with Megatron's uneven
    pipeline split (--decoder-first-pipeline-num-layers / --decoder-last-pipeline-num-layers):
    the first pipeline stage holds ``first`` layers and the last ``last`` (each split evenly over
    its ``v`` virtual stages), the middle stages share the rest evenly; an unset end takes the
    middle stages' share. With both unset, or pp = 1: ``split_layers``.

    Errors: ``InfeasibleError`` naming ``train.first_stage_layers`` / ``last_stage_layers`` when
    a share does not divide evenly or no layer is left for a stage."""
    if (first is None and last is None) or pp < 2:
        try:
            return split_layers(layers, pp * v)      # pp = 1: one stage holds every layer (the keys are warned inert)
        except InfeasibleError:
            # the keys that make the chunks (virtual_stages where interleaved), not split_layers' bare counts
            chunks, key = pp * v, ("train.virtual_stages" if v > 1 else "train.pp")
            made = (f"train.pp x train.virtual_stages = {pp} x {v} = {chunks} model chunks" if v > 1
                    else f"train.pp = {pp} pipeline stages")
            fewer = "give fewer virtual_stages or pp" if v > 1 else "give a smaller pp"
            if chunks > layers:
                raise InfeasibleError(key, f"{made} exceed model.layers = {layers}: each needs at least one layer; "
                                      f"{fewer}") from None
            fix = f"{fewer}, or train.first_stage_layers / last_stage_layers"
            ends = "chunks" if v > 1 else "stages"
            raise InfeasibleError(key, f"model.layers = {layers} do not split over {made}: not evenly (a multiple "
                                  f"of {chunks}), and the first and last {ends} cannot give up the shortfall of "
                                  f"{chunks - layers % chunks} layers between them keeping one each (Megatron needs "
                                  f"the layers to divide unless the end stages' are given); {fix}") from None
    key = "train.first_stage_layers" if first is not None else "train.last_stage_layers"
    given = (first or 0) + (last or 0)
    middle_stages = pp - (first is not None) - (last is not None)
    rest = layers - given
    # the keys as written: "first_stage_layers = 32", or both with their sum
    named = " + ".join(f"{k} = {n}" for k, n in (("first_stage_layers", first), ("last_stage_layers", last))
                       if n is not None)
    named += f" ({given})" if first is not None and last is not None else ""
    others = (f"the other {middle_stages} pipeline stages" if middle_stages > 1 else "the other pipeline stage") + \
        f" (pp = {pp})"
    if rest < 0:
        raise InfeasibleError(key, f"{named} is more than the model's {layers} layers (model.layers)")
    if middle_stages == 0 and rest != 0:
        raise InfeasibleError(key, f"{named} must be the model's {layers} layers (model.layers): with pp = {pp} "
                              "the first and last stages are every stage")
    if middle_stages and rest == 0:
        raise InfeasibleError(key, f"{named} takes all {layers} layers of the model (model.layers), leaving "
                              f"{others} no layers; every stage needs at least one: give fewer")
    if middle_stages and rest % (middle_stages * v):
        chunks = f" x {v} virtual stages (train.virtual_stages)" if v > 1 else ""
        raise InfeasibleError(key, f"the {rest} layer{'s' if rest > 1 else ''} left after {named} {'do' if rest > 1 else 'does'} not split "
                              f"evenly over {others}"
                              f"{chunks}")
    per = rest // (middle_stages * v) if middle_stages else 0
    stage = [per * v] * pp
    if first is not None:
        stage[0] = first
    if last is not None:
        stage[-1] = last
    for s, n in ((0, stage[0]), (pp - 1, stage[-1])):
        if n % v or n == 0:
            raise InfeasibleError("train.first_stage_layers" if s == 0 else "train.last_stage_layers",
                                  f"{n} layers do not split evenly over {v} virtual stages")
    return [stage[s] // v for c in range(v) for s in range(pp)]


@dataclass
class Plan:
    tp: int
    cp: int
    pp: int
    dp: int
    ep: int
    sp: bool
    zero: int
    micro_batch: int
    global_batch: int
    schedule: str
    v: int
    recompute: str
    precision: str
    fidelity: str
    order: list[str]
    chunk_layers: list[int] = field(default_factory=list)
    etp: int = 0                    # expert tensor parallel (0: tp)
    moe_imbalance: float = 1.0      # busiest expert's tokens over the mean
    moe_dispatcher: str = "alltoall"
    moe_capacity_factor: float = 0.0    # 0: dropless; else rows per expert capped at this x the mean
    moe_pad_to_capacity: bool = False   # rows padded to capacity: static shapes, no host sync
    cuda_graphs: bool = False           # layers' kernels replayed from CUDA graphs
    ep_overlap: bool = False            # EP all-to-all behind another micro-batch's compute
    tp_comm_overlap: bool = False       # TP all-gather/reduce-scatter pipelined with the GEMMs (TE userbuffers)
    fp8_recipe: str = ""                # Transformer Engine quantization recipe ("": the generic cast model)
    # memory keys (workloads.training.memory): Megatron's --recompute-modules (with recompute =
    # "selective"; unset: core_attn), the precision-aware optimizer's dtypes ("": unset), FP8 primary weights
    recompute_modules: tuple[str, ...] = ()
    precision_aware_optimizer: bool = False
    main_params_dtype: str = ""
    main_grads_dtype: str = ""
    exp_avg_dtype: str = ""
    exp_avg_sq_dtype: str = ""
    store_param_remainders: bool = True
    fp8_param_gather: bool = False

    @property
    def moe_host_sync(self) -> bool:
        """The dispatcher copies tokens-per-expert to the host every MoE layer (dropless, or
        capacity without padding: variable shapes); with drop-and-pad the shapes are static."""
        return self.ep > 1 and not (self.moe_capacity_factor and self.moe_pad_to_capacity)

    def __post_init__(self):
        if not self.etp:
            self.etp = self.tp

    @property
    def edp(self) -> int:
        """Expert data-parallel size: tp x cp x dp / (etp x ep)."""
        return max(self.tp * self.cp * self.dp // (self.etp * self.ep), 1)

    @property
    def folded(self) -> bool:
        """Expert groups differ from runs of ``ep`` data-parallel ranks (parallel folding)."""
        return self.ep > 1 and (self.etp != self.tp or self.cp > 1 or self.dp % self.ep != 0)

    @property
    def world(self) -> int:
        return self.tp * self.cp * self.pp * self.dp

    @property
    def microbatches(self) -> int:
        return self.global_batch // (self.micro_batch * self.dp)

    def strides(self) -> dict[str, int]:
        """Rank stride of each parallel dimension (``order`` from innermost out); EP groups are
        strided like DP."""
        out, s = {}, 1
        for d in self.order:
            out[d] = s
            s *= getattr(self, d)
        out["ep"] = out["dp"]
        return out

    def shard(self, weight_bytes: float = 2.0) -> Shard:
        return Shard(tp=self.tp, cp=self.cp, sp=self.sp and self.tp > 1, ep=self.ep, weight_bytes=weight_bytes)

    def stage_chunks(self, stage: int) -> list[int]:
        """Virtual-stage indices held by pipeline rank ``stage`` in execution order."""
        return [c * self.pp + stage for c in range(self.v)]

    def chunk_layer_range(self, vstage: int) -> range:
        start = sum(self.chunk_layers[:vstage])
        return range(start, start + self.chunk_layers[vstage])

    # -- placement ---------------------------------------------------------------------------
    def _grid(self) -> np.ndarray:
        """Ranks arranged with one axis per dimension, axes in ``order`` (innermost first)."""
        sizes = [getattr(self, d) for d in self.order]
        return np.arange(self.world).reshape(sizes[::-1]).transpose(range(len(sizes) - 1, -1, -1))

    def coords(self, rank: int) -> dict[str, int]:
        sizes = [getattr(self, d) for d in self.order]
        out = {}
        for d, n in zip(self.order, sizes):
            out[d] = rank % n
            rank //= n
        return out

    def rank_of(self, **coords: int) -> int:
        rank, stride = 0, 1
        for d in self.order:
            rank += coords.get(d, 0) * stride
            stride *= getattr(self, d)
        return rank

    def groups(self, dim: str, **fixed: int) -> list[list[int]]:
        """Every group of ranks that differ only in ``dim`` (optionally with some other
        coordinates fixed, e.g. ``pp=3`` for the groups of one pipeline stage)."""
        grid = self._grid()
        if dim == "ep":
            return self._ep_groups(grid, **fixed)
        if dim == "etp":
            return self._etp_groups(**fixed)
        axis = self.order.index(dim)
        index = [slice(None)] * grid.ndim
        for d, val in fixed.items():
            index[self.order.index(d)] = slice(val, val + 1)
        sub = grid[tuple(index)]
        return np.moveaxis(sub, axis, -1).reshape(-1, sub.shape[axis]).tolist()

    def grad_groups(self, **fixed: int) -> list[list[int]]:
        """The groups that reduce gradients and shard ZeRO state: ranks that differ only in
        ``dp`` and ``cp`` (context-parallel ranks hold the same weights and each a partial
        gradient from its share of the sequence: Megatron-Core's data-parallel group "with
        context parallel", of dp x cp ranks), in rank order (``fixed``: ``pp`` only)."""
        if self.cp == 1:
            return self.groups("dp", **fixed)
        out = []
        for stage in ([fixed["pp"]] if "pp" in fixed else range(self.pp)):
            for t in range(self.tp):
                out.append(sorted(self.rank_of(tp=t, cp=c, dp=d, pp=stage)
                                  for d in range(self.dp) for c in range(self.cp)))
        return out

    def edp_groups(self, **fixed: int) -> list[list[int]]:
        """Expert data-parallel groups (``edp`` ranks each): the ranks that hold the same expert
        shard (same ``etp`` and ``ep`` coordinates of a stage), which reduce its gradients and
        shard its optimizer state. Unfolded: the k-th rank of every EP group of a dp group;
        folded: expert ranks ``e x etp x ep + k x etp + t`` over e. ``fixed``: ``pp`` only."""
        out = []
        if not self.folded:
            for g in self.groups("dp", **fixed):
                for i in range(min(self.ep, len(g))):
                    out.append(g[i::self.ep])
            return out
        for stage in ([fixed["pp"]] if "pp" in fixed else range(self.pp)):
            ranks = [self.rank_of(tp=t, cp=c, dp=d, pp=stage)
                     for d in range(self.dp) for c in range(self.cp) for t in range(self.tp)]
            block = self.etp * self.ep
            for k in range(self.ep):
                for t in range(self.etp):
                    out.append([ranks[e * block + k * self.etp + t] for e in range(len(ranks) // block)])
        return out

    def _ep_groups(self, grid, **fixed) -> list[list[int]]:
        if not self.folded:
            # expert-parallel groups: runs of ``ep`` consecutive data-parallel coordinates
            out = []
            for g in self.groups("dp", **fixed):
                out.extend(g[i:i + self.ep] for i in range(0, len(g), self.ep))
            return out
        # parallel folding: a stage's ranks in (tp, cp, dp) order, expert rank = etp fastest,
        # then ep, then edp; an EP group shares its etp and edp coordinates
        out = []
        for stage in ([fixed["pp"]] if "pp" in fixed else range(self.pp)):
            ranks = [self.rank_of(tp=t, cp=c, dp=d, pp=stage)
                     for d in range(self.dp) for c in range(self.cp) for t in range(self.tp)]
            block = self.etp * self.ep
            for e in range(len(ranks) // block):
                for t in range(self.etp):
                    group = [ranks[e * block + k * self.etp + t] for k in range(self.ep)]
                    if all(self.coords(group[0])[d] == v for d, v in fixed.items() if d != "pp"):
                        out.append(group)
        return out


    def _etp_groups(self, **fixed) -> list[list[int]]:
        """Expert tensor-parallel groups: with etp = tp the TP groups; folded, runs of ``etp``
        consecutive ranks of a stage in (tp, cp, dp) order (the expert-TP group of each expert
        shard, which all-gathers the rows dispatched to it)."""
        if self.etp == self.tp:
            return self.groups("tp", **fixed)
        out = []
        for stage in ([fixed["pp"]] if "pp" in fixed else range(self.pp)):
            ranks = [self.rank_of(tp=t, cp=c, dp=d, pp=stage)
                     for d in range(self.dp) for c in range(self.cp) for t in range(self.tp)]
            for e in range(0, len(ranks), self.etp):
                group = ranks[e:e + self.etp]
                if all(self.coords(group[0])[d] == v for d, v in fixed.items() if d != "pp"):
                    out.append(group)
        return out


def effective_zero(zero: int, dp: int, cp: int, tp: int, etp: int, ep: int, moe: bool) -> int:
    """The ZeRO stage a plan runs: ``zero``, or 0 where there is nothing to shard over
    (``sim.config.zero_shards_nothing``: a data-parallel group of one rank without expert
    data-parallel peers)."""
    return 0 if zero_shards_nothing(dp, cp, tp, etp, ep, moe) else zero


def make_plan(train, model: ModelSpec, gpus: int) -> Plan:
    """Check the ``[train]`` section against the model and the cluster; return the plan."""
    tp, cp, pp, ep = train.tp, train.cp, train.pp, train.ep
    if model.heads % tp:
        raise InfeasibleError("train.tp", f"tp ({tp}) does not divide attention heads ({model.heads})")
    if not model.mla and model.kv_heads % tp:
        raise InfeasibleError("train.tp", f"tp ({tp}) does not divide key/value heads ({model.kv_heads})")
    if model.ffn_hidden % tp or (model.is_moe and not getattr(train, "etp", None) and model.expert_ffn_hidden % tp):
        raise InfeasibleError("train.tp", f"tp ({tp}) does not divide the MLP width")
    inner = tp * cp * pp
    if train.dp is None:
        if gpus % inner:
            raise InfeasibleError("train.dp", f"{gpus} GPUs are not divisible by tp x cp x pp = {inner}")
        dp = gpus // inner
    else:
        dp = train.dp
        if inner * dp > gpus:
            raise InfeasibleError("train.dp", f"tp x cp x pp x dp = {inner * dp} ranks exceed the topology's {gpus} GPUs")
    if model.seq_len % cp:
        raise InfeasibleError("train.cp", f"cp ({cp}) does not divide seq_len ({model.seq_len})")
    etp = getattr(train, "etp", None) or tp
    _check_moe_capacity(train, model, ep)
    if ep > 1 or etp != tp:
        if not model.is_moe:        # a config mistake (exit 2), as train.moe_capacity_factor on a dense model
            raise ConfigError("train.ep" if ep > 1 else "train.etp",
                              "ep > 1 or etp != tp needs an MoE model (model.experts > 0); this one has no "
                              "routed experts")
        if model.experts % ep:
            raise InfeasibleError("train.ep", f"ep ({ep}) does not divide experts ({model.experts})")
        if model.expert_ffn_hidden % etp:
            raise InfeasibleError("train.etp", f"etp ({etp}) does not divide expert_ffn_hidden ({model.expert_ffn_hidden})")
        if (tp * cp * dp) % (etp * ep):
            raise InfeasibleError("train.ep", f"etp x ep = {etp * ep} must divide tp x cp x dp = {tp * cp * dp} "
                                  "(experts fold over the tensor, context and data-parallel ranks)")
        folded = ep > 1 and (etp != tp or cp > 1 or dp % ep)
        if folded and train.fidelity == "full":
            raise InfeasibleError("train.fidelity", "full fidelity needs EP groups inside DP (etp = tp, cp = 1, "
                                  "ep dividing dp); use fidelity = 'symmetric' for parallel folding")
    if train.global_batch % (train.micro_batch * dp):
        raise InfeasibleError("train.global_batch", f"global_batch ({train.global_batch}) is not divisible by "
                              f"micro_batch x dp = {train.micro_batch * dp}")
    m = train.global_batch // (train.micro_batch * dp)
    v = train.virtual_stages if train.schedule == "interleaved" and pp > 1 else 1   # pp = 1: one chunk per rank
    if train.schedule == "interleaved" and pp > 1 and m % pp:
        raise InfeasibleError("train.global_batch", f"interleaved schedule needs micro-batches per pipeline ({m}) "
                              f"to be a multiple of pp ({pp})")
    chunk_layers = split_stage_layers(model.layers, pp, v, getattr(train, "first_stage_layers", None),
                                      getattr(train, "last_stage_layers", None))
    order = train.rank_order.split("-")
    return Plan(tp=tp, cp=cp, pp=pp, dp=dp, ep=ep, sp=train.sequence_parallel,
                zero=effective_zero(train.zero, dp, cp, tp, etp, ep, model.is_moe),
                micro_batch=train.micro_batch, global_batch=train.global_batch,
                schedule=train.schedule, v=v, recompute=train.recompute, precision=train.precision,
                fidelity=train.fidelity, order=order, chunk_layers=chunk_layers, etp=etp,
                moe_imbalance=getattr(train, "moe_imbalance", 1.0),
                moe_dispatcher=getattr(train, "moe_dispatcher", "alltoall"),
                moe_capacity_factor=getattr(train, "moe_capacity_factor", None) or 0.0,
                moe_pad_to_capacity=getattr(train, "moe_pad_expert_input_to_capacity", False),
                cuda_graphs=getattr(train, "cuda_graph_impl", "none") != "none",
                ep_overlap=getattr(train, "overlap_moe_expert_parallel_comm", False),
                tp_comm_overlap=_check_tp_comm_overlap(train, tp), fp8_recipe=_check_fp8_recipe(train),
                **_memory_keys(train, model))


def _memory_keys(train, model) -> dict:
    """The memory keys' Plan fields, checked (``workloads.training.memory.check_memory_keys``)."""
    from workloads.training.memory import check_memory_keys
    return check_memory_keys(train, model)


def _check_fp8_recipe(train) -> str:
    """``train.fp8_recipe``: the FP8 recipes quantize fp8 GEMMs, NVFP4 fp4 ones (Megatron's
    --fp8-recipe and --fp4-recipe); a recipe on a 16-bit run quantizes nothing."""
    recipe = getattr(train, "fp8_recipe", None)
    if not recipe:
        return ""
    need = "fp4" if recipe == "nvfp4" else "fp8"
    if train.precision != need:
        raise ConfigError("train.fp8_recipe", f"{recipe!r} quantizes {need} GEMMs but train.precision is "
                          f"{train.precision!r}: set precision = {need!r} or leave fp8_recipe unset")
    return recipe


def _check_tp_comm_overlap(train, tp: int) -> bool:
    """``train.tp_comm_overlap``: Megatron asserts it needs sequence parallelism (the userbuffers
    overlap the SP all-gathers/reduce-scatters) and, with tp = 1, there is nothing to overlap."""
    if not getattr(train, "tp_comm_overlap", False):
        return False
    if tp < 2 or not train.sequence_parallel:
        raise ConfigError("train.tp_comm_overlap", f"needs train.sequence_parallel = true and tp > 1 (tp = {tp}, "
                          f"sequence_parallel = {str(train.sequence_parallel).lower()}): the overlap pipelines the "
                          "sequence-parallel all-gathers and reduce-scatters with the GEMMs")
    return True


def _check_moe_capacity(train, model, ep: int) -> None:
    """Megatron-Core's token-drop keys: padding needs a capacity factor (its ValueError), and a CUDA
    graph cannot capture the dropless alltoall dispatcher, which syncs tokens-per-expert to the
    host every MoE layer (shapes vary per step); Megatron's full-layer graphs need drop-and-pad."""
    cf = getattr(train, "moe_capacity_factor", None)
    pad = getattr(train, "moe_pad_expert_input_to_capacity", False)
    if pad and cf is None:
        raise ConfigError("train.moe_pad_expert_input_to_capacity", "padding to capacity needs train.moe_capacity_factor")
    if cf is not None and not model.is_moe:
        raise ConfigError("train.moe_capacity_factor", "needs an MoE model (model.experts > 0)")
    imbalance = getattr(train, "moe_imbalance", 1.0)
    if model.is_moe and model.top_k and imbalance > model.experts / model.top_k:
        # the busiest expert takes at most every token (a token picks top_k distinct experts), the
        # mean is tokens x top_k / experts; 1e300 drove the expert GEMMs to inf bytes and hung the run
        raise ConfigError("train.moe_imbalance", f"{imbalance:g} is above experts / top_k = {model.experts} / "
                          f"{model.top_k} = {model.experts / model.top_k:g}, the most any expert can take over "
                          "the mean (every token routed to it)")
    if getattr(train, "overlap_moe_expert_parallel_comm", False):
        if not model.is_moe or ep < 2:
            raise ConfigError("train.overlap_moe_expert_parallel_comm", "needs an MoE model with ep > 1")
        if train.pp > 1 and (train.schedule != "interleaved" or train.virtual_stages < 2):
            raise ConfigError("train.overlap_moe_expert_parallel_comm", "with pp > 1 Megatron-Core needs the "
                              "interleaved schedule (virtual_stages > 1) to pair a forward with a backward")
    if (getattr(train, "cuda_graph_impl", "none") != "none" and model.is_moe and ep > 1
            and not (cf is not None and pad)):
        raise ConfigError("train.cuda_graph_impl", "CUDA graphs cannot capture the dropless MoE dispatcher's host "
                          "sync: set train.moe_capacity_factor and train.moe_pad_expert_input_to_capacity")
