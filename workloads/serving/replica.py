"""A serving replica: one model instance on tp x pp GPUs running iteration-level continuous
batching over a paged KV cache.

Vocabulary:
- role: ``both`` (co-located prefill and decode), ``prefill`` or ``decode`` (disaggregated).
- queues: ``waiting`` (routed here, not admitted), ``prefilling`` (admitted, prompt KV not yet
  complete), ``running`` (decoding), ``swapped`` (preempted to host memory).
- scheduler policy (``SCHEDULERS``, ``serve.scheduler``; a new one is a class and a registry
  line): how an iteration's batch is formed (``plan``) and whether admission reserves KV for
  the whole sequence (``reserve_whole``).
  ``vllm``: prefill first: an iteration runs either waiting prompts (up to ``max_batch_tokens``)
  or one decode step of every running sequence, never both.
  ``sarathi``: chunked prefill: every iteration carries all decodes plus prompt chunks filling a
  token budget of ``chunk_size`` tokens (decodes piggyback on prefill chunks).
  ``orca``: iteration-level scheduling with selective batching: decodes plus prompt tokens up to
  ``max_batch_tokens``; KV for prompt + all output tokens is reserved at admission (no
  preemption), as TensorRT-LLM's guaranteed-no-evict scheduler does.
- macro-step: consecutive decode-only iterations whose batch cannot change (no finish, no block
  shortage, no admission) are costed in one vectorized call and simulated as one event; an
  arrival that could join the batch wakes the replica, which cuts the macro-step at the next
  iteration boundary. Results equal one event per iteration.
- attention-DP ranks (``dp_ranks`` > 1: ``serve.dp_attention`` with the engine's
  ``dp_context_balance`` off and ``serve.dp_balance`` unset or false; role ``both``): each of the
  replica's N ranks admits and prefills its own requests, TensorRT-LLM's per-rank executors
  without ADP balance. An admitted request goes to the rank with the fewest active requests
  (then the fewest active prompt tokens), each rank holds at most ``max_batch / N`` sequences,
  and each plans its prompt chunks within its own token budget (the policy's budget / N, less
  its own decodes where the policy counts them); a step with prompt tokens is priced rank by
  rank (``DpAttentionCost.batch_ranks``: it lasts as long as the most loaded rank). So the
  ranks prefill in the same steps only when their requests arrive or finish together; a rank
  whose sequence finishes prefills its replacement while the others decode. Decode-only steps
  are priced as before (1/N of the replica's batch per rank). KV stays one pool for the replica.
- preemption: when a decode step finds no free KV block, the most recently admitted sequence is
  preempted: ``recompute`` frees its blocks and re-queues it (its prompt and generated tokens are
  prefilled again), ``swap`` copies its KV to host memory over the host link and back later.
"""

from __future__ import annotations

from collections import OrderedDict, deque

import numpy as np

from sim.errors import SimulationError
from sim.gpu import Gpu
from workloads.serving.kvcache import KVCache, PrefixCache, blocks_for
from workloads.serving.request import Request
from workloads.serving.speculative import SpecTally

MAX_MACRO_ITERATIONS = 1 << 16

# The loops of a step over its whole batch, when it holds at least ARRAY_MIN_BATCH sequences
# (thousands with attention-DP ranks), read one integer of every request into an int64 array (in
# the batch's order) and do their arithmetic on it; smaller batches loop in Python (numpy's
# per-call overhead would dominate). Both give the same integers. A comprehension naming the
# attribute is Python's fastest read of it.
ARRAY_MIN_BATCH = 128
_FIELDS = {
    "context": lambda reqs: [r.prompt + r.generated for r in reqs],     # Request.context
    "generated": lambda reqs: [r.generated for r in reqs],
    "prompt": lambda reqs: [r.prompt for r in reqs],
    "output": lambda reqs: [r.output for r in reqs],
    "kv_blocks": lambda reqs: [r.kv_blocks for r in reqs],             # its own KV blocks here
    "pinned": lambda reqs: [len(r.pinned) for r in reqs],              # prefix entries it pins
    "dp_rank": lambda reqs: [r.dp_rank for r in reqs],
}


def kv_alloc_of(serve, eng) -> str:
    """The KV allocation rule of a replica (engines.py ``kv_alloc``): orca always reserves the
    request; the prefill-first scheduler (``serve.scheduler = "vllm"``) is the engine's older one
    (vLLM V0) with its own rule (``prefill_first_kv_alloc``)."""
    if SCHEDULERS[serve.scheduler].reserve_whole:
        return "request"
    if eng and serve.scheduler == "vllm" and eng.prefill_first_kv_alloc:
        return eng.prefill_first_kv_alloc
    return eng.kv_alloc if eng else "prompt"


def kv_slots(prompt: int, output: int, kv_alloc: str) -> int:
    """KV token slots a request of ``prompt`` + ``output`` tokens holds at its peak.

    Slots are the tokens whose KV is written: the prompt and every sampled token fed back in.
    The last sampled token is never fed, so a request peaks at prompt + output - 1 (vLLM V1
    ``allocate_slots``: ``num_computed_tokens + num_new_tokens``). ``request`` (TensorRT-LLM's
    GUARANTEED_NO_EVICT, ``getRemainingBlocksToCompletion``) reserves prompt + max new tokens."""
    return prompt + output if kv_alloc == "request" else max(prompt + output - 1, prompt)


def _ints(reqs, field: str) -> np.ndarray:
    """``field`` (a key of ``_FIELDS``) of each of ``reqs``, as an int64 array in their order."""
    values = _FIELDS[field](reqs)
    return np.fromiter(values, np.int64, len(values))


def _set_first_token(reqs, t: float) -> None:
    """``first_token = t`` for those of ``reqs`` without one yet."""
    if reqs and min([r.first_token for r in reqs]) < 0:
        for r in reqs:
            if r.first_token < 0:
                r.first_token = t


class VllmScheduler:
    """Prefill first: waiting prompts up to ``max_batch_tokens``, else one decode step of all."""
    reserve_whole = False
    decodes_in_budget = False       # the prompt budget does not count the step's decodes

    def chunk_budget(self, rep: "Replica") -> int:
        """Prompt tokens one iteration may schedule (the KV a chunked allocation reserves)."""
        return rep.max_tokens

    def plan(self, rep: "Replica", decodes: list[Request]):
        chunks = rep._prefill_chunks(rep.max_tokens)
        return (chunks, []) if chunks else ([], decodes)


class SarathiScheduler:
    """Chunked prefill: all decodes plus prompt chunks up to ``chunk_size`` tokens in all."""
    reserve_whole = False
    decodes_in_budget = True

    def chunk_budget(self, rep: "Replica") -> int:
        return rep.chunk

    def plan(self, rep: "Replica", decodes: list[Request]):
        return rep._prefill_chunks(rep.chunk - len(decodes)), decodes


class OrcaScheduler:
    """Selective batching: all decodes plus prompt tokens up to ``max_batch_tokens``; KV for
    prompt and every output token reserved at admission, so nothing is ever preempted."""
    reserve_whole = True
    decodes_in_budget = True

    def chunk_budget(self, rep: "Replica") -> int:
        return rep.max_tokens

    def plan(self, rep: "Replica", decodes: list[Request]):
        return rep._prefill_chunks(rep.max_tokens - len(decodes)), decodes


SCHEDULERS = {"vllm": VllmScheduler, "sarathi": SarathiScheduler, "orca": OrcaScheduler}


class Replica:
    def __init__(self, index: int, role: str, deployment, cost, kv: KVCache,
                 prefix: PrefixCache | None, gpus: list[int], hosts: list[int],
                 max_batch: int | None = None):
        self.index = index              # engine index (unique per deployment)
        self.physical = index           # the replica (GPU set) it runs on
        self.role = role
        self.dep = deployment
        self.env = deployment.sim.env
        self.cost = cost
        self.kv = kv
        self.prefix = prefix
        self.gpus = gpus
        self.hosts = hosts
        s = deployment.serve
        self.policy = SCHEDULERS[s.scheduler]()
        self.max_batch = max_batch or s.max_batch_size
        self.max_tokens = s.max_batch_tokens
        self.chunk = s.chunk_size
        eng = getattr(deployment, "engine", None)
        # KV allocation granularity of the engine (engines.py): orca always reserves the request
        self.kv_alloc = kv_alloc_of(s, eng)
        self.watermark_frac = eng.watermark if eng else 0.01
        if eng and s.scheduler == "vllm" and eng.prefill_first_kv_alloc:
            self.watermark_frac = eng.prefill_first_watermark
        self.preempt_mode = s.preemption
        # recompute victims' full blocks stay cached (evictable, LRU by preemption) while they wait
        self.cache_preempted = bool(eng and eng.cache_preempted)
        self.retained: OrderedDict[int, tuple[int, int]] = OrderedDict()   # rid -> (blocks, tokens before them)
        self.retained_blocks = 0
        self._order: dict[int, int] = {}   # rid -> admission sequence (preemption picks the newest)
        self._admitted = 0
        self.bt = kv.block_tokens
        self.waiting: deque[Request] = deque()
        self.prefilling: list[Request] = []
        self.running: list[Request] = []
        self.swapped: deque[Request] = deque()
        # a sequence was swapped out since the last batch formed: vLLM V0's scheduler swaps
        # sequences back in only in a step whose running batch preempted nothing (else the
        # victim's freed blocks bring it straight back and the replica thrashes without a step)
        self.swap_hold = False
        self.pending_loads = 0
        self.wake = None
        self.idle = False
        # accounting
        self.busy_s = 0.0
        # the replica's tp x pp GPUs move in lockstep: one set of streams (sim.gpu) for all of
        # them, one compute and one TP/PP interval per iteration batch (intervals kept for a trace)
        self.gpu = Gpu(self.env, kinds=("TP", "PP"), record=bool(deployment.cfg.run.trace))
        self.iterations = 0.0               # engine steps (draft-and-verify steps under speculation)
        self.flops = 0.0
        self.hbm_bytes = 0.0
        self.preemptions = 0
        self.spec = SpecTally()            # tokens each kind of step emitted (the summary's spec_* columns)
        self.comm_credit = 0.0            # TP bytes already on the fabric for cut macro-steps
        # attention-DP ranks admitting their own requests (module docstring); 1: one scheduler for all
        dp = getattr(cost, "dp", 1) if s.dp_attention else 1
        balanced = s.dp_balance if s.dp_balance is not None else (eng.dp_context_balance if eng else True)
        self.dp_ranks = dp if (dp > 1 and not balanced and role == "both" and hasattr(cost, "batch_ranks")) else 1
        self.rank_cap = max(self.max_batch // self.dp_ranks, 1)
        self.rank_active = [0] * self.dp_ranks     # admitted requests per rank
        self.rank_tokens = [0] * self.dp_ranks     # their prompt tokens
        self._step_decodes = ()                    # the step's decodes while its chunks are planned
        self.queued_tokens = 0            # prompt tokens routed here and not yet prefilled

    # -- outside interface -------------------------------------------------------------------
    def submit(self, req: Request) -> None:
        req.replica = self.physical
        if req.submitted < 0:
            req.submitted = self.env.now
        self.waiting.append(req)
        if req.computed < req.context:
            self.queued_tokens += req.context - req.computed
        self.notify()

    def notify(self, force: bool = False) -> None:
        """Wake the iteration loop: always when idle, during a decode macro-step only when the
        news could change the batch (room to admit, or a sequence whose KV just landed)."""
        if self.wake is not None and not self.wake.triggered:
            if force or self.idle or len(self.prefilling) + len(self.running) < self.max_batch:
                self.wake.succeed()

    def load(self) -> int:
        return len(self.waiting) + len(self.prefilling) + len(self.running) + len(self.swapped) + self.pending_loads

    # -- admission -----------------------------------------------------------------------------
    def _blocks_needed(self, req: Request) -> int:
        """Blocks a request takes at admission: prompt + output (``request``, ``kv_slots``), its
        whole context (``prompt``: the prompt and, after a preemption, every token generated so
        far, all computed by its prefill), or its first chunk (``chunk``: later chunks allocate as
        they are scheduled).

        The KV rule of every running sequence (here, ``_grow_and_finish``, ``_decode_steps``):
        a sequence holds slots for the tokens its next step will have written, ``context`` =
        prompt + generated (the step feeds the last sampled token), never more than
        ``kv_slots`` (its last sampled token is never fed)."""
        if self.kv_alloc == "request":
            return self.cost.kv_blocks(kv_slots(req.prompt, req.output, "request"), self.bt)
        if self.kv_alloc == "chunk" and req.computed < req.context:
            return self.cost.kv_blocks(min(req.context, req.computed + self._chunk_budget()), self.bt)
        return self.cost.kv_blocks(req.context, self.bt)

    def _chunk_budget(self) -> int:
        return self.policy.chunk_budget(self)

    def _reserve(self, blocks: int) -> bool:
        if self.kv.free >= blocks:
            return True
        if self.prefix is not None and self.prefix.reclaim(blocks):
            return True
        while self.kv.free < blocks and self.retained:    # oldest preempted request's blocks, tail first
            rid, (n, base) = next(iter(self.retained.items()))
            take = min(n, blocks - self.kv.free)
            self._drop_retained(rid, take)
        return self.kv.free >= blocks

    def _evictable(self) -> int:
        return self.retained_blocks + (self.prefix.evictable_blocks() if self.prefix is not None else 0)

    def _drop_retained(self, rid: int, blocks: int | None = None) -> None:
        n, base = self.retained[rid]
        take = n if blocks is None else min(blocks, n)
        self.kv.cached -= take
        self.retained_blocks -= take
        if take == n:
            del self.retained[rid]
        else:
            self.retained[rid] = (n - take, base)

    def _retained_usable(self, req: Request, hit_tokens: int) -> int:
        """Blocks of ``req``'s cached pre-preemption KV it can reuse after ``hit_tokens`` prefix
        hits (they continue the hit; at least one token is always recomputed)."""
        if req.rid not in self.retained:
            return 0
        n, base = self.retained[req.rid]
        if base != hit_tokens:
            return 0
        return max(0, min(n, (req.context - 1 - base) // self.bt))

    def _watermark(self) -> int:
        """Blocks admission leaves free so running sequences can grow (vLLM keeps 1 % of the
        pool; one block per running or prefilling sequence covers its next token): without it a
        preempted sequence is re-admitted at once and the replica thrashes. A prefilling one
        holds its prompt only (``_blocks_needed``) and cannot be preempted here, so its first
        decode token's block (a new one when the prompt ends on a block boundary) must be left
        free, or a pool filled by prompts leaves the running sequence nothing to grow into."""
        if self.kv_alloc == "request" or not (self.running or self.prefilling):
            return 0
        if self.kv_alloc == "chunk":                  # vLLM V1: greedy, preemption resolves pressure
            return int(self.watermark_frac * self.kv.capacity)
        return max(len(self.running) + len(self.prefilling), int(self.watermark_frac * self.kv.capacity))

    def _admit(self) -> None:
        now = self.env.now
        hold, self.swap_hold = self.swap_hold, False
        if hold and self.swapped and (self.running or self.prefilling):
            return      # the swapped (and, behind them, the waiting) wait for a step without preemption
        while self.swapped and len(self.prefilling) + len(self.running) < self.max_batch:
            req = self.swapped[0]
            if self.dp_ranks > 1 and min(self.rank_active) >= self.rank_cap:
                break
            need = self._blocks_needed(req)
            if not self._reserve(need + self._watermark()):
                return
            self.swapped.popleft()
            if self.dp_ranks > 1:
                self._join_rank(req)
            self.kv.allocate(need)
            req.kv_blocks = need
            req.ready = False
            self.pending_loads += 1
            ev = self.dep.host_copy(self, self.cost.kv_tokens(req.context) * self.cost.kv_token_gpu, to_gpu=True)
            ev.callbacks.append(lambda _e, r=req: self._loaded(r, self.running))
        while self.waiting and len(self.prefilling) + len(self.running) < self.max_batch:
            req = self.waiting[0]
            if self.dp_ranks > 1 and min(self.rank_active) >= self.rank_cap:
                return
            hit_tiers = []
            if self.prefix is not None and req.blocks is not None and req.computed == 0:
                hit_tiers = self.prefix.match(req.blocks)
                # at least one prompt token is always computed (it produces the first token)
                max_hit = (req.prompt - 1) // self.prefix.prefix_tokens
                hit_tiers = hit_tiers[:max_hit]
            hit0 = len(hit_tiers) * self.prefix.prefix_tokens if hit_tiers else 0
            own = self._retained_usable(req, hit0) if req.computed == 0 else 0
            if hit_tiers or own:
                eb = self.prefix.entry_blocks if hit_tiers else 0
                req.computed = hit0 + own * self.bt
                need = max(self._blocks_needed(req) - len(hit_tiers) * eb - own, 0)
                req.computed = 0
                # matched HBM entries get pinned (no longer evictable); promoted ones need room
                unpinned = sum(eb for b, t in zip(req.blocks, hit_tiers) if t == "hbm" and self.prefix.hbm[int(b)] == 0) if hit_tiers else 0
                promote = sum(eb for t in hit_tiers if t != "hbm")
                if self.kv.free + self._evictable() - unpinned - own < need + promote + self._watermark():
                    return
            elif not self._reserve(self._blocks_needed(req) + self._watermark()):
                return
            self.waiting.popleft()
            if self.dp_ranks > 1:
                self._join_rank(req)
            own_tokens = 0
            if req.rid in self.retained:
                self._drop_retained(req.rid)           # back from the cache to the request
                if own:
                    self.kv.allocate(own)
                    own_tokens = own * self.bt
            need = self._blocks_needed(req)
            if hit_tiers:
                tiers = self.prefix.acquire(req.blocks[:len(hit_tiers)])
                req.pinned = tuple(int(b) for b in req.blocks[:len(tiers)])
                hit_tokens = len(tiers) * self.prefix.prefix_tokens
                if len(tiers) < len(hit_tiers) and own_tokens:     # promotion cut the hit short
                    self.kv.release(own_tokens // self.bt)
                    own_tokens = 0
                req.computed = hit_tokens + own_tokens
                need = max(self._blocks_needed(req) - len(tiers) * self.prefix.entry_blocks - own_tokens // self.bt, 0)
                req.computed = 0
                if not self._reserve(need):
                    raise SimulationError(f"replica {self.index}: prefix promotion left no room for request {req.rid}")
                req.computed = hit_tokens
                req.hit = hit_tokens
                if not req.preemptions:                # hits of its first admission (not of its own KV)
                    req.prefix_hit_tokens = hit_tokens
                self.queued_tokens -= hit_tokens
                moved = [t for t in tiers if t != "hbm"]
                if moved:
                    nbytes, from_ssd = self.prefix.load_bytes(moved)
                    req.ready = False
                    self.pending_loads += 1
                    ev = self.dep.host_copy(self, nbytes, to_gpu=True, ssd_bytes=from_ssd, kind="prefix_load")
                    ev.callbacks.append(lambda _e, r=req: self._loaded(r, None))
            elif own_tokens:
                req.computed = own_tokens
                need = max(self._blocks_needed(req) - own_tokens // self.bt, 0)
                if not self._reserve(need):
                    raise SimulationError(f"replica {self.index}: no room for request {req.rid}'s next chunk")
            if own_tokens:
                req.computed += own_tokens if hit_tiers else 0
                self.queued_tokens -= own_tokens
            self.kv.allocate(need)
            req.kv_blocks = need + own_tokens // self.bt
            self._order[req.rid] = self._admitted
            self._admitted += 1
            if req.scheduled < 0:
                req.scheduled = now
            if req.computed >= req.context:
                self.running.append(req)       # arrived with its KV (disaggregated decode)
            else:
                self.prefilling.append(req)

    def _join_rank(self, req: Request) -> None:
        """Put an admitted request on the DP rank with the fewest active requests, then the fewest
        active prompt tokens (TensorRT-LLM's attention-DP fetch: ranks below the expected count,
        a heap on active tokens)."""
        r = min(range(self.dp_ranks), key=lambda i: (self.rank_active[i], self.rank_tokens[i], i))
        req.dp_rank = r
        self.rank_active[r] += 1
        self.rank_tokens[r] += req.prompt

    def _leave_rank(self, req: Request) -> None:
        if req.dp_rank >= 0:
            self.rank_active[req.dp_rank] -= 1
            self.rank_tokens[req.dp_rank] -= req.prompt
            req.dp_rank = -1

    def _loaded(self, req: Request, into) -> None:
        req.ready = True
        self.pending_loads -= 1
        if into is not None:
            req.swapped = False
            into.append(req)
        self.notify(force=True)

    # -- batch formation -----------------------------------------------------------------------
    def _prefill_chunks(self, budget: int) -> list[tuple[Request, int]]:
        """The step's prompt chunks, oldest prefilling request first, within ``budget`` tokens;
        with attention-DP ranks (``dp_ranks`` > 1) each rank's within its own budget: the replica's
        (``budget`` plus the step's decodes where the policy counts them) / N less its own decodes."""
        n = self.dp_ranks
        if n > 1:
            own = [0] * n
            total = budget
            if self.policy.decodes_in_budget:
                own = self._rank_counts(self._step_decodes)
                total += len(self._step_decodes)
            left = [total // n - own[i] for i in range(n)]
        else:
            left = [budget]
        open_ranks = sum(1 for x in left if x > 0)
        chunks = []
        for req in list(self.prefilling):
            if open_ranks <= 0:
                break
            k = req.dp_rank if n > 1 else 0
            # only a chunk allocation (vLLM V1) can preempt a request out of prefilling meanwhile
            if left[k] <= 0 or not req.ready or (self.kv_alloc == "chunk" and req not in self.prefilling):
                continue
            c = min(req.context - req.computed, left[k])
            if self.kv_alloc == "chunk":
                c = self._allocate_chunk(req, c)
                if c <= 0:
                    break
            chunks.append((req, c))
            left[k] -= c
            if left[k] <= 0:
                open_ranks -= 1
        return chunks

    def _allocate_chunk(self, req: Request, c: int) -> int:
        """vLLM V1 ``allocate_slots``: blocks for ``c`` more tokens of ``req``; when the pool is
        short, newer requests are preempted (recompute) and, if that is not enough, the chunk
        shrinks to what fits. Returns the tokens scheduled (0: none)."""
        while True:
            extra = self.cost.kv_blocks(req.computed + c, self.bt) - self._owned(req)
            if extra <= 0 or self._reserve(extra):
                break
            if self._preempt(exclude=req, newer_than=req) is None:
                # nothing newer to preempt: the request is the newest and preempts itself (V1
                # scheduler: running.pop() is the request), waiting until its chunk fits
                self._preempt(target=req)
                return 0
        if extra > 0:
            self.kv.allocate(extra)
            req.kv_blocks += extra
        return c

    def _plan(self):
        # a request is not ready only while a load it started here is pending (``pending_loads``)
        decodes = self.running[:] if not self.pending_loads else [r for r in self.running if r.ready]
        self._step_decodes = decodes
        chunks, decodes = self.policy.plan(self, decodes)
        self._step_decodes = ()
        if decodes and chunks and self.kv_alloc == "chunk":   # allocating chunks may have preempted decodes
            decodes = self.running[:] if not self.pending_loads else [r for r in self.running if r.ready]
        return chunks, decodes

    # -- the iteration loop --------------------------------------------------------------------
    def loop(self):
        env = self.env
        while True:
            self._admit()
            chunks, decodes = self._plan()
            if not chunks and not decodes:
                self.wake = env.event()
                self.idle = True
                yield self.wake
                self.idle = False
                self.wake = None
                continue
            if chunks:
                yield from self._mixed_iteration(chunks, decodes)
            else:
                yield from self._decode_steps(decodes)

    def _issue_comm(self, tp_b: float, pp_b: float):
        """Put the iterations' TP/PP traffic (bytes per GPU) on the fabric
        (``Deployment.comm_traffic``)."""
        if len(self.gpus) < 2:
            return None
        total = tp_b + pp_b - self.comm_credit
        self.comm_credit = 0.0
        if total <= 0:
            self.comm_credit = -total
            return None
        scale = total / (tp_b + pp_b)
        return self.dep.comm_traffic(self, tp_b * scale, pp_b * scale)

    def _mixed_iteration(self, chunks, decodes):
        now = self.env.now
        n_tok = sum(c for _, c in chunks) + len(decodes)
        finishing = [r for r, c in chunks if r.computed + c >= r.context]
        # the decodes' (context, generated, output) before the step (only this loop changes them)
        state = None
        if len(decodes) >= ARRAY_MIN_BATCH:
            state = _ints(decodes, "context"), _ints(decodes, "generated"), _ints(decodes, "output")
        if self.dp_ranks > 1:
            bc = self.cost.batch_ranks(self._rank_loads(chunks, decodes, finishing, state and state[0]))
        else:
            # layer-averaged with a sliding window (cost.chunk_pairs, chunk_kv, kv_tokens)
            if state is not None and not self.cost.window:    # kv_tokens(context) is the context
                dec = dec_pairs = int(state[0].sum())
            else:
                dec = dec_pairs = sum(self.cost.kv_tokens(r.context) for r in decodes)
            pairs = sum(self.cost.chunk_pairs(r.computed, c) for r, c in chunks) + dec
            if self.cost.decode_chunk_weight != 1.0:     # MMHA's chunked decode (cost.set_mmha_chunked_decode)
                dec = sum(self.cost.decode_kv_read(r.context) for r in decodes)
            kv_read = sum(self.cost.chunk_kv(r.computed, c) for r, c in chunks) + dec
            bc = self.cost.batch(n_tok, len(decodes) + len(finishing), pairs, kv_read,
                                 decode=(len(decodes), dec_pairs, dec) if decodes else None)
        t = bc.time_s
        comm = self._issue_comm(bc.tp_bytes, bc.pp_bytes)
        if self.role == "prefill" and self.dep.layerwise:
            for r in finishing:      # stream all but the last layer's KV behind the compute
                self.dep.start_kv_transfer(self, r, fraction=1.0 - 1.0 / self.cost.stage_layers, at_end=False)
        yield self.env.timeout(t)
        if comm is not None and not comm.processed:
            yield comm
        end = self.env.now
        self._account(bc, 1, now, end)
        self.busy_s += end - now
        for r, c in chunks:
            r.computed += c
            self.queued_tokens -= c
        for r in finishing:
            self.prefilling.remove(r)
            r.generated += 1
            r.prefill_done_s = end
            if self.prefix is not None and r.blocks is not None:
                full = min(r.prompt // self.prefix.prefix_tokens, len(r.blocks))
                new_ids = [b for b in r.blocks[:full] if int(b) not in r.pinned]
                added = self.prefix.insert(new_ids[: r.kv_blocks // self.prefix.entry_blocks])
                r.kv_blocks -= len(added) * self.prefix.entry_blocks
                r.pinned = r.pinned + tuple(added)
            if self.role == "prefill":
                self.dep.start_kv_transfer(self, r, fraction=1.0 / self.cost.stage_layers if self.dep.layerwise else 1.0,
                                           at_end=True)
                continue
            if r.first_token < 0:
                r.first_token = end
            if r.generated >= r.output:
                self._finish(r, end)
            else:
                self.running.append(r)
        for r in decodes:
            r.generated += 1
        self.spec.prefill += len(finishing)
        self.spec.plain += len(decodes)
        _set_first_token(decodes, end)
        self._grow_and_finish(decodes, end, state and (state[0] + 1, state[1] + 1, state[2]))

    def _rank_loads(self, chunks, decodes, finishing, contexts=None) -> list[tuple]:
        """Each DP rank's (tokens, sampled sequences, attention pairs, KV reads, decode) of a step
        (the descriptors ``_mixed_iteration`` sums for the replica); ``decode``: the rank's
        generation requests' (sequences, pairs, KV reads) within them (``cost._step_attn_s``).
        ``contexts``: the decodes' contexts as an int64 array, if the caller has them."""
        n = self.dp_ranks
        cost = self.cost
        tok, smp, prs, kvs = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n      # the ranks' prompt chunks
        nd, pd = [0] * n, [0.0] * n                                          # their generation requests
        for r, c in chunks:
            i = r.dp_rank
            tok[i] += c
            prs[i] += cost.chunk_pairs(r.computed, c)
            kvs[i] += cost.chunk_kv(r.computed, c)
        for r in finishing:
            smp[r.dp_rank] += 1
        kv_tokens = cost.kv_tokens
        if not cost.window and decodes:
            # kv_tokens(context) is the context itself: the per-rank sums are sums of integers,
            # exact in float64 in any order (bincount gives the same floats as the loop below)
            ranks = _ints(decodes, "dp_rank")
            nd = np.bincount(ranks, minlength=n).tolist()
            pd = np.bincount(ranks, weights=_ints(decodes, "context") if contexts is None else contexts, minlength=n).tolist()
        else:
            for r in decodes:
                i = r.dp_rank
                nd[i] += 1
                pd[i] += kv_tokens(r.context)
        kd = pd
        if cost.decode_chunk_weight != 1.0:      # MMHA's chunked decode reads (cost.set_mmha_chunked_decode)
            kd = [0.0] * n
            for r in decodes:
                kd[r.dp_rank] += cost.decode_kv_read(r.context)
        return [(tok[i] + nd[i], smp[i] + nd[i], prs[i] + pd[i], kvs[i] + kd[i], (nd[i], pd[i], kd[i]))
                for i in range(n)]

    def _rank_counts(self, reqs) -> list[int]:
        """How many of ``reqs`` each attention-DP rank holds."""
        if not reqs:
            return [0] * self.dp_ranks
        return np.bincount(_ints(reqs, "dp_rank"), minlength=self.dp_ranks).tolist()

    def _grow_and_finish(self, decodes, end, state=None):
        """Finish sequences that produced their last token, then give the others the KV block
        their next step needs, its fed token's (``context``, see ``_blocks_needed``), preempting
        the newest sequences when none is free. ``state``: the decodes' (context, generated,
        output) as int64 arrays if the caller has them (else read here for a batch of
        ``ARRAY_MIN_BATCH`` or more)."""
        if state is None and len(decodes) >= ARRAY_MIN_BATCH:
            state = _ints(decodes, "context"), _ints(decodes, "generated"), _ints(decodes, "output")
        ctx = None
        if state is None:
            growing = []
            for r in decodes:
                if r.generated >= r.output:
                    self.running.remove(r)
                    self._finish(r, end)
                else:
                    growing.append(r)
        elif (done := state[1] >= state[2]).any():
            ctx = state[0]
            for j in np.flatnonzero(done).tolist():     # in batch order
                r = decodes[j]
                self.running.remove(r)
                self._finish(r, end)
            keep = np.flatnonzero(~done)
            growing = [decodes[j] for j in keep.tolist()]
            ctx = ctx[keep]
        else:
            growing, ctx = decodes, state[0]
        if self.kv_alloc == "request":
            return
        bt = self.bt
        eb = self.prefix.entry_blocks if self.prefix is not None else 0
        # blocks_for(context) - _owned(r), inlined (it runs for every sequence each step)
        if self.cost.window:        # windowed layers stop growing at the window (cost.kv_blocks)
            extras = [(r, self.cost.kv_blocks(r.context, bt) - r.kv_blocks - (len(r.pinned) * eb if r.pinned else 0))
                      for r in growing]
            extras = [(r, x) for r, x in extras if x > 0]
        elif ctx is None:
            extras = [(r, -(-(r.prompt + r.generated) // bt) - r.kv_blocks - (len(r.pinned) * eb if r.pinned else 0))
                      for r in growing]
            extras = [(r, x) for r, x in extras if x > 0]
        elif growing:
            # the same integers on arrays: blocks for context tokens less those each one owns
            x = -(-ctx // bt) - _ints(growing, "kv_blocks")
            if eb:
                x -= _ints(growing, "pinned") * eb
            grow = np.flatnonzero(x > 0).tolist()
            x = x.tolist()
            extras = [(growing[j], x[j]) for j in grow]
        else:
            extras = []
        total = sum(x for _, x in extras)
        if total <= self.kv.free:
            # all fit in free blocks: one allocation leaves the state one by one would
            if total:
                self.kv.allocate(total)
                for r, extra in extras:
                    r.kv_blocks += extra
            return
        preempted: set[int] = set()
        for r in growing:
            if preempted and r.rid in preempted:
                continue
            extra = ((self.cost.kv_blocks(r.context, bt) if self.cost.window else -(-(r.prompt + r.generated) // bt))
                     - r.kv_blocks - (len(r.pinned) * eb if r.pinned else 0))
            if extra > 0:
                while not self._reserve(extra):
                    victim = self._preempt(exclude=r)
                    if victim is None:
                        raise SimulationError(f"replica {self.index}: request {r.rid} needs {extra} KV "
                                              f"blocks and nothing can be preempted")
                    preempted.add(victim.rid)
                self.kv.allocate(extra)
                r.kv_blocks += extra

    def _owned(self, r: Request) -> int:
        """KV blocks holding r's tokens here: its own plus the prefix entries it pins."""
        return r.kv_blocks + (len(r.pinned) * self.prefix.entry_blocks if r.pinned else 0)

    def _decode_steps(self, decodes):
        env = self.env
        now = env.now
        B = len(decodes)
        # per-sequence state: contexts, and (below) the KV blocks each owns (its own plus the
        # prefix entries it pins), as int64 arrays in the batch's order for a large batch
        # (ARRAY_MIN_BATCH), else on Python ints
        big = B >= ARRAY_MIN_BATCH
        if big:
            ctx = _ints(decodes, "context")
            gen = _ints(decodes, "generated")
            out = _ints(decodes, "output")
            k = min(int((out - gen).min()), MAX_MACRO_ITERATIONS)
        else:
            ctx = [r.prompt + r.generated for r in decodes]
            k = min(min([r.output - r.generated for r in decodes]), MAX_MACRO_ITERATIONS)
        if self.kv_alloc != "request":
            # blocks each sequence needs after j steps (``_blocks_needed``): its context + j, the
            # next step's; one that finishes at step j needed context + j - 1 = prompt + output - 1
            eb = self.prefix.entry_blocks if self.prefix is not None else 0
            if big:
                owned = _ints(decodes, "kv_blocks")
                if eb:
                    owned += _ints(decodes, "pinned") * eb
            else:
                owned = [r.kv_blocks + len(r.pinned) * eb if r.pinned else r.kv_blocks for r in decodes]
            avail = self.kv.free + self._evictable()
            bt = self.bt
            # The largest k whose growth fits: after j steps each sequence holds
            # min(ctx + j, kv_slots) tokens (kv_slots = prompt + output - 1 on arrays too)
            window = self.cost.window
            last = (np.maximum(_ints(decodes, "prompt") + out - 1, _ints(decodes, "prompt")) if big
                    else [kv_slots(r.prompt, r.output, self.kv_alloc) for r in decodes])
            ctx_l, owned_l, last_l = (ctx.tolist(), owned.tolist(), last.tolist()) if big else (ctx, owned, last)

            def growth(j):
                if big and not window:      # integers: the array sum equals the loop's
                    n = -(-np.minimum(ctx + j, last) // bt) - owned
                    return int(n[n > 0].sum())
                g = 0
                for c, o, m in zip(ctx_l, owned_l, last_l):
                    t = min(c + j, m)
                    # windowed layers stop growing at the window (cost.kv_blocks)
                    n = (self.cost.kv_blocks(t, bt) if window else -(-t // bt)) - o
                    if n > 0:
                        g += n
                return g
            if growth(k) > avail:
                lo, hi = 0, k                      # growth(lo) <= avail < growth(hi)
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if growth(mid) <= avail:
                        lo = mid
                    else:
                        hi = mid
                k = lo
            if k == 0:
                if self._preempt() is None:
                    raise SimulationError(f"replica {self.index}: KV full and nothing to preempt")
                return
        run = self.cost.decode_run(B, float(int(ctx.sum())) if big else float(sum(ctx)), k,
                                   np.asarray(ctx) if self.cost.window else None)
        cum = run.cum_s
        step_bytes = run.step.tp_bytes + run.step.pp_bytes
        comm = self._issue_comm(k * run.step.tp_bytes, k * run.step.pp_bytes)
        private = comm is None and len(self.gpus) > 1 and self.dep.is_private(self)
        # the run ends at its last iteration unless news wakes the replica first (``notify``):
        # the timer triggers the wake event itself (one event fewer than waiting on any_of)
        wake = self.wake = env.event()
        env.timeout(cum[-1]).callbacks.append(lambda _e: None if wake.triggered else wake.succeed())
        yield wake
        self.wake = None
        elapsed = env.now - now
        done = k
        if elapsed < cum[-1] * (1 - 1e-12):
            done = run.done_by(elapsed)
            if done < k and comm is not None:
                self.comm_credit += (k - done) * step_bytes
                comm = None
            elif done < k and private:          # summed bytes not yet on the fabric: take back
                self.dep.refund_traffic(self, (k - done) * run.step.tp_bytes, (k - done) * run.step.pp_bytes)
            yield env.timeout(max(cum[done - 1] - elapsed, 0.0))
        if comm is not None and not comm.processed:
            yield comm
        end = env.now
        # under speculative decoding a macro-step iteration is one generated token per sequence
        # (DecodeRun): the engine ran done / gain draft-and-verify steps (the ``iterations`` column)
        self._account(run.totals(done), done / self.cost.spec_gain if self.cost.spec_tokens else done, now, end)
        self.busy_s += end - now
        first_end = now + cum[0]
        if self.cost.spec_tokens:
            self.spec.add_speculative(B, done, self.cost.spec_gain)
        else:
            self.spec.plain += B * done
        for r in decodes:
            r.generated += done
        _set_first_token(decodes, first_end)
        self._grow_and_finish(decodes, end, (ctx + done, gen + done, out) if big else None)

    # -- bookkeeping ---------------------------------------------------------------------------
    def _account(self, bc, iterations: float, start: float, end: float) -> None:
        """Add ``iterations`` iterations whose summed cost is the ``BatchCost`` ``bc``, run from
        ``start`` to ``end``: their compute and collectives go on the replica's GPU streams
        (``Gpu.log_batch``: TP/EP and PP seconds split by their bytes on the link, the last
        stretched while the batch waited for its flows on a shared fabric past ``time_s``)."""
        self.iterations += iterations
        self.flops += bc.flops
        self.hbm_bytes += bc.hbm_bytes
        pp_w = bc.pp_bytes * self.cost.pp
        pp_s = bc.comm_s * pp_w / (bc.tp_bytes + pp_w) if pp_w > 0 else 0.0
        self.gpu.log_batch(start, end, bc.compute_s, (("TP", bc.comm_s - pp_s), ("PP", pp_s)), bc.time_s)

    def _release(self, req: Request) -> None:
        self.kv.release(req.kv_blocks)
        req.kv_blocks = 0
        if req.pinned:
            self.prefix.release(req.pinned)
            req.pinned = ()

    def _finish(self, req: Request, t: float) -> None:
        self._release(req)
        self._leave_rank(req)
        req.finish = t
        self.dep.finished(req)

    def release_transferred(self, req: Request) -> None:
        """A disaggregated prefill's KV reached its decode replica: free it here."""
        self._release(req)
        self.notify()

    def _retain(self, victim: Request, tokens: int) -> None:
        """Recompute preemption with ``cache_preempted``: the victim's full blocks holding its
        first ``tokens`` tokens stay cached (evictable) for its re-admission."""
        if not self.cache_preempted:
            return
        base = len(victim.pinned) * self.prefix.prefix_tokens if victim.pinned else 0
        keep = max(0, min(victim.kv_blocks, (tokens - base) // self.bt))
        if keep:
            self.kv.release(keep)
            self.kv.cached += keep
            victim.kv_blocks -= keep
            self.retained[victim.rid] = (keep, base)
            self.retained_blocks += keep

    def _preempt(self, exclude: Request | None = None, newer_than: Request | None = None,
                 target: Request | None = None) -> Request | None:
        """Preempt the newest running sequence (with ``chunk`` allocation also partly prefilled
        ones, which hold blocks), or ``target``; ``newer_than`` limits victims to requests
        admitted after it."""
        victims = [r for r in self.running if r is not exclude and r.ready]
        if self.kv_alloc == "chunk":
            victims += [r for r in self.prefilling if r is not exclude and r.ready and r.kv_blocks > 0]
        if newer_than is not None:
            limit = self._order.get(newer_than.rid, -1)
            victims = [r for r in victims if self._order.get(r.rid, -1) > limit]
        if target is not None:
            victims = [target]
        if not victims:
            return None
        victim = max(victims, key=lambda r: self._order.get(r.rid, -1))
        self._leave_rank(victim)
        if victim in self.prefilling:
            self.prefilling.remove(victim)
            self.preemptions += 1
            victim.preemptions += 1
            self._retain(victim, victim.computed)
            self._release(victim)
            self.queued_tokens += victim.computed
            victim.computed = 0
            victim.hit = 0
            self.waiting.appendleft(victim)
            return victim
        self.running.remove(victim)
        self.preemptions += 1
        victim.preemptions += 1
        if self.preempt_mode == "swap" and self.hosts:
            nbytes = self.cost.kv_tokens(victim.context) * self.cost.kv_token_gpu
            self._release(victim)
            victim.swapped = True
            self.swap_hold = True
            self.dep.host_copy(self, nbytes, to_gpu=False)
            self.swapped.append(victim)
        else:
            self._retain(victim, victim.context - 1)
            self._release(victim)
            victim.computed = 0
            victim.hit = 0
            self.queued_tokens += victim.context
            self.waiting.appendleft(victim)
        return victim
