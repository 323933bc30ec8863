"""A serving deployment: replicas placed on a topology's GPUs, a router in front of them, and
the flows that move KV caches and activations between them over the shared fabric.

Vocabulary:
- placement: replicas take consecutive GPU ranks (replica r uses ranks r*tp*pp ...), prefill
  replicas first, then decode replicas (disaggregated) or the co-located replicas.
- engine: the batching loop (``Replica``) of one replica; a PP replica runs ``pp`` virtual
  engines on the same GPUs (each with 1/pp of the KV pool and batch limit), so pp batches are in
  flight and every stage stays busy when all have work, with pipeline bubbles when few do.
- router: picks a replica for each arriving request (``round-robin``, ``least-loaded``: fewest
  outstanding requests, then fewest queued prompt tokens, ``prefix-aware``: most prompt tokens
  already cached minus queued prompt tokens, so affinity yields to load). Disaggregated: the
  router picks the prefill replica; the decode replica is picked the same way among decode
  replicas when the prefill finishes.
- KV transfer (disaggregated): each prefill GPU sends its KV shard to the matching GPU of the
  decode replica (NVLink inside a scale-up domain, NIC and switches across). ``layerwise``
  streams all but the last layer behind the final prefill iteration; ``whole`` sends after it.
- host copies: prefix-cache loads (host DRAM or SSD to HBM) and swap preemption travel the
  GPU's host link (and the SSD's link first, for SSD hits).
- ring traffic: a replica's TP all-reduce (and PP send/recv) bytes, sent around the ring of its
  GPUs so they share links with everything else.
"""

from __future__ import annotations

import numpy as np

from sim.errors import ConfigError, InfeasibleError
from sim.hardware import gpu as gpu_spec
from workloads.model import ModelSpec
from workloads.serving.cost import CommLink, IterationCost, calibration, check_precision
from workloads.serving.kvcache import KVCache, PrefixCache, blocks_for
from workloads.serving.replica import Replica
from workloads.serving.request import Request
from workloads.serving.requests import RequestStream


class Router:
    def __init__(self, policy: str):
        self.policy = policy
        self.counter = 0

    def choose(self, replicas: list[Replica], req: Request) -> Replica:
        if len(replicas) == 1:
            return replicas[0]
        if self.policy == "round-robin":
            r = replicas[self.counter % len(replicas)]
            self.counter += 1
            return r
        if self.policy == "prefix-aware" and req.blocks is not None and replicas[0].prefix is not None:
            def score(rep):
                hit = len(rep.prefix.match(req.blocks)) * rep.prefix.prefix_tokens
                return (hit - rep.queued_tokens, -rep.load(), -rep.index)
            return max(replicas, key=score)
        return min(replicas, key=lambda rep: (rep.load(), rep.queued_tokens, rep.index))


class Deployment:
    def __init__(self, cfg, sim, topo, fabric, stream: RequestStream):
        self.cfg, self.sim, self.topo, self.fabric = cfg, sim, topo, fabric
        self.serve = s = cfg.serve
        self.stream = stream
        self.gpu = gpu_spec(cfg.topology.gpu)
        check_precision(self.gpu, s.precision)
        self.spec = ModelSpec.from_section(cfg.model)
        disagg = s.prefill_replicas > 0 or s.decode_replicas > 0
        if disagg and (s.prefill_replicas == 0 or s.decode_replicas == 0):
            raise ConfigError("serve.decode_replicas" if s.prefill_replicas else "serve.prefill_replicas",
                              "disaggregated serving needs both prefill_replicas and decode_replicas > 0")
        self.disaggregated = disagg
        roles = ["prefill"] * s.prefill_replicas + ["decode"] * s.decode_replicas if disagg else ["both"] * s.replicas
        if not roles:
            raise ConfigError("serve.replicas", "no replicas to serve on")
        per = s.tp * s.pp
        self.gpus_used = per * len(roles)
        if self.gpus_used > len(topo.gpus):
            raise InfeasibleError("serve.replicas", f"{len(roles)} replicas x tp={s.tp} x pp={s.pp} need "
                                  f"{self.gpus_used} GPUs; the topology has {len(topo.gpus)}")
        self.layerwise = s.kv_transfer == "layerwise"
        link = self._group_link([topo.gpu(i) for i in range(per)])
        overhead = s.schedule_overhead_us * 1e-6 if s.schedule_overhead_us else None
        self.cost = IterationCost(self.spec, self.gpu, s.precision, s.kv_precision, s.tp, s.pp, s.ep,
                                  link, overhead)
        cap_tokens = self.cost.kv_capacity_tokens(s.gpu_memory_utilization, s.max_batch_tokens, s.max_batch_size)
        # PP: pp virtual engines per replica keep pp batches in flight (vLLM's virtual engines),
        # each with 1/pp of the KV pool and of the batch limit; one batch alone leaves bubbles
        self.engines = s.pp
        self.kv_blocks = cap_tokens // s.kv_block_tokens // self.engines
        self._check_fits(stream)
        self.replicas: list[Replica] = []
        speeds = _gpu_speed(cfg, self.gpu, len(topo.gpus))
        for i, role in enumerate(roles):
            ranks = range(i * per, (i + 1) * per)
            gpus = [topo.gpu(r) for r in ranks]
            slowest = float(min(speeds[r] for r in ranks)) if speeds is not None else 1.0
            cost = self.cost if slowest == 1.0 else self.cost.with_speed(slowest)
            hosts = [topo.attr(g, "host") for g in gpus]
            hosts = hosts if all(h is not None for h in hosts) else []
            for _ in range(self.engines):
                kv = KVCache(self.kv_blocks, s.kv_block_tokens)
                prefix = None
                if s.prefix_cache and role != "decode":
                    prefix = PrefixCache(kv, stream.block_tokens, self.cost.kv_token_gpu,
                                         s.host_kv_GB * 1e9 / per / self.engines,
                                         s.ssd_kv_GB * 1e9 / per / self.engines)
                rep = Replica(len(self.replicas), role, self, cost, kv, prefix, gpus, hosts,
                              max(s.max_batch_size // self.engines, 1))
                rep.physical = i
                self.replicas.append(rep)
        self.physical_replicas = len(roles)
        self.front = [r for r in self.replicas if r.role in ("both", "prefill")]
        self.back = [r for r in self.replicas if r.role == "decode"]
        self.router = Router(s.router)
        self.decode_router = Router(s.router if s.router != "prefix-aware" else "least-loaded")
        self.requests: list[Request] = []
        self.done = sim.env.event()
        self.n_done = 0
        self.next_closed = 0
        self.bytes = {"disagg": 0.0, "prefix_load": 0.0, "swap": 0.0, "offload": 0.0}
        self._pending_kv: dict[int, list] = {}
        self._private: dict[int, bool] = {}
        self._ring_links: dict[int, np.ndarray] = {}

    # -- set-up helpers ------------------------------------------------------------------------
    def _group_link(self, gpus: list[int]) -> CommLink:
        """Bottleneck effective bandwidth and latency between a replica's first two GPUs."""
        lat = calibration()["comm"]["collective_latency_us"] * 1e-6
        if len(gpus) < 2:
            return CommLink(self.gpu.scaleup_Bps, lat)
        links = self.topo.route(gpus[0], gpus[1])
        cap = float(self.fabric.capacity[links].min()) if len(links) else self.gpu.scaleup_Bps
        return CommLink(cap, lat + self.topo.path_latency(links))

    def _check_fits(self, stream: RequestStream) -> None:
        s = self.serve
        longest = int((stream.input_tokens + stream.output_tokens).max())
        if blocks_for(longest + 1, s.kv_block_tokens) > self.kv_blocks:
            raise InfeasibleError("workload.input_tokens",
                                  f"a request of {longest} tokens needs more KV than a replica holds "
                                  f"({self.kv_blocks * s.kv_block_tokens} tokens)")

    # -- flows ---------------------------------------------------------------------------------
    def _ring_private(self, rep: Replica) -> bool:
        """A replica's ring has its links to itself when its GPUs share one scale-up domain and
        no KV transfer crosses their NVLink ports (co-located serving): each GPU's NVLink links
        carry only its own replica's traffic, so the ring's timing cannot change any other flow
        and the analytic time of the iteration cost is exact."""
        domains = {self.topo.attr(g, "domain", 0) for g in rep.gpus}
        return not self.disaggregated and len(domains) == 1

    def ring_traffic(self, rep: Replica, bytes_per_gpu: float):
        """Put ``bytes_per_gpu`` on each edge of the replica's GPU ring. Private rings are
        credited to the links at once (no flow; returns None); shared ones become one bundled
        flow that contends with everything else (returns its event)."""
        g = rep.gpus
        pairs = [(g[i], g[(i + 1) % len(g)]) for i in range(len(g))]
        f = self.fabric
        private = self._private.get(rep.index)
        if private is None:
            private = self._private[rep.index] = self._ring_private(rep)
            self._ring_links[rep.index] = np.concatenate([self.topo.route(a, b) for a, b in pairs])
        if private:
            links = self._ring_links[rep.index]
            np.add.at(f.link_bytes, links, bytes_per_gpu)
            np.add.at(f.link_busy, links, bytes_per_gpu / f.capacity[links])
            total = bytes_per_gpu * len(pairs)
            f.bytes_sent += total
            f.bytes_delivered += total
            f.bytes_by_tag["serve.tp"] = f.bytes_by_tag.get("serve.tp", 0.0) + total
            return None
        if hasattr(f, "transfer_bundle"):
            return f.transfer_bundle(pairs, bytes_per_gpu, tag="serve.tp", key=rep.index)
        return self.sim.env.all_of([f.transfer(a, b, bytes_per_gpu, tag="serve.tp", key=rep.index) for a, b in pairs])

    def host_copy(self, rep: Replica, bytes_per_gpu: float, to_gpu: bool, ssd_bytes: float = 0.0,
                  kind: str = "swap"):
        """KV between each of ``rep``'s GPUs and its host memory (through the SSD first for
        ``ssd_bytes`` of it); an event that fires when every GPU's share has landed."""
        env = self.sim.env
        self.bytes[kind] += bytes_per_gpu * len(rep.gpus)
        if not rep.hosts:
            return env.timeout(bytes_per_gpu / self.gpu.host_Bps)
        done = env.event()

        def send(_=None):
            evs = [self.fabric.transfer(h, g, bytes_per_gpu, tag="serve.kv_host") if to_gpu
                   else self.fabric.transfer(g, h, bytes_per_gpu, tag="serve.kv_host")
                   for g, h in zip(rep.gpus, rep.hosts)]
            env.all_of(evs).callbacks.append(lambda _e: done.succeed())

        if ssd_bytes > 0:
            ssd_Bps = self.cfg.topology.ssd_GBps * 1e9
            env.timeout(ssd_bytes * len(rep.gpus) / ssd_Bps).callbacks.append(send)
        else:
            send()
        return done

    def start_kv_transfer(self, src: Replica, req: Request, fraction: float, at_end: bool) -> None:
        env = self.sim.env
        pending = self._pending_kv.get(req.rid)
        if pending is None:
            dst = self.decode_router.choose(self.back, req)
            pending = self._pending_kv[req.rid] = [dst, [], env.now]
        dst, events, _start = pending
        # the prompt's KV (the first output token's KV is computed by the first decode step);
        # at_end is called after the prefill sampled that token, the streamed part before
        tokens = req.context - 1 if at_end else req.context
        nbytes = tokens * self.cost.kv_token_gpu * fraction
        self.bytes["disagg"] += nbytes * len(src.gpus)
        for i, g in enumerate(src.gpus):
            events.append(self.fabric.transfer(g, dst.gpus[i % len(dst.gpus)], nbytes, tag="serve.kv", key=req.rid))
        if at_end:
            del self._pending_kv[req.rid]
            end_of_prefill = env.now

            def arrived(_e, req=req, src=src, dst=dst):
                req.kv_transfer_s = env.now - end_of_prefill
                req.prefill_replica = src.physical
                src.release_transferred(req)
                req.computed = req.context
                if req.generated >= req.output:
                    req.first_token = env.now
                    req.finish = env.now
                    req.replica = dst.physical
                    self.finished(req)
                else:
                    dst.submit(req)
            env.all_of(events).callbacks.append(arrived)

    # -- requests ------------------------------------------------------------------------------
    def arrive(self, req: Request) -> None:
        self.router.choose(self.front, req).submit(req)

    def finished(self, req: Request) -> None:
        if req.generated != req.output:
            from sim.errors import SimulationError
            raise SimulationError(f"request {req.rid} finished with {req.generated} of {req.output} tokens")
        self.n_done += 1
        if self.stream.concurrency and self.next_closed < len(self.requests):
            nxt = self.requests[self.next_closed]
            self.next_closed += 1
            nxt.arrival = self.sim.now
            self.arrive(nxt)
        if self.n_done == len(self.requests) and not self.done.triggered:
            self.done.succeed()

    def arrivals(self, order: np.ndarray):
        env = self.sim.env
        for i in order:
            req = self.requests[i]
            if req.arrival > env.now:
                yield env.timeout(req.arrival - env.now)
            self.arrive(req)

    def start(self) -> None:
        st = self.stream
        blocks = st.prefix_blocks
        self.requests = [Request(i, float(st.arrival_s[i]), int(st.input_tokens[i]), int(st.output_tokens[i]),
                                 blocks[i] if blocks is not None else None) for i in range(len(st))]
        for rep in self.replicas:
            self.sim.process(rep.loop(), f"serve.replica{rep.index}")
        if st.concurrency:
            first = min(st.concurrency, len(self.requests))
            self.next_closed = first
            for req in self.requests[:first]:
                self.arrive(req)
            return
        order = np.argsort(st.arrival_s, kind="stable")
        at_zero = int(np.searchsorted(st.arrival_s[order], 0.0, side="right"))
        for i in order[:at_zero]:
            self.arrive(self.requests[i])
        if at_zero < len(order):
            self.sim.process(self.arrivals(order[at_zero:]), "serve.arrivals")


def _gpu_speed(cfg, gpu, world: int):
    """Per-rank speed factors (sim.stragglers), or None when every GPU runs at nominal speed; a
    replica runs at its slowest GPU's pace (its TP/PP ranks wait for each other every layer)."""
    from sim.energy import gpu_idle_W
    from sim.stragglers import cap_speed, speed_factors
    t = cfg.topology
    cap = cap_speed(cfg.power.gpu_cap_W, gpu_idle_W(gpu.name, gpu.power_W), gpu.power_W)
    if not t.gpu_speed and t.speed_cv == 0 and cap == 1.0:
        return None
    return speed_factors(world, t.gpu_speed, t.speed_cv, cfg.run.seed, cap)
