"""Torus fabrics (TPU v4 style): every chip links to its 2 neighbours in each dimension.

Vocabulary:
- coordinates: rank ``r`` sits at ``(x, y, z)`` with ``r = x + X*(y + Y*z)`` (first dimension
  fastest); GPU attribute ``coords``. A server holds ``gpus_per_node`` consecutive ranks.
- ring: the chips that differ only in one coordinate; links wrap around (``X-1 -> 0``).
- link: class ``ici``, domain ``scaleup``. A chip has ``2 * len(dims)`` ports (6 in 3D) and
  its scale-up bandwidth splits evenly over them: ``scaleup / 6`` per port per direction. In a
  ring of 2 the + and - ports reach the same neighbour and form one link of twice the
  capacity; a dimension of size 1 has no links (its ports stay idle).
- the whole torus is one scale-up domain (domain id 0). No scale-out NICs are modelled: the
  torus is the only GPU-to-GPU fabric (TPU v4 pods reach other pods over the data-center
  network, outside this model).
- route: dimension order (x, then y, then z), each ring the shorter way around; a tie (exactly
  half way round an even ring) is broken by bit ``dim`` of ``mix(src, dst, key)``.
"""

from __future__ import annotations

from sim.topology import Topology, mix
from topologies.params import TORUS_PORTS_PER_DIM, Params, base_meta, resolve
from topologies.routing import StructuredRouter
from topologies.servers import Servers, add_servers


def coords_of(rank: int, dims: list[int]) -> tuple[int, ...]:
    out = []
    for n in dims:
        out.append(rank % n)
        rank //= n
    return tuple(out)


class TorusRouter(StructuredRouter):
    def __init__(self, topo: Topology, servers: Servers, dims: list[int], plus: list[list[int]], minus: list[list[int]]):
        super().__init__(topo, servers)
        self.dims = dims
        self.stride = [1]
        for n in dims[:-1]:
            self.stride.append(self.stride[-1] * n)
        self.plus = plus      # per dim, per rank: link to the + neighbour
        self.minus = minus    # per dim, per rank: link to the - neighbour

    def gpu_route(self, a, b, src, dst, key):
        path = []
        cur = a
        for d, n in enumerate(self.dims):
            if n == 1:
                continue
            st = self.stride[d]
            ca = (cur // st) % n
            cb = (b // st) % n
            fwd = (cb - ca) % n
            if fwd == 0:
                continue
            back = n - fwd
            up = fwd < back or (fwd == back and (mix(src, dst, key) >> d) & 1 == 0)
            if up:
                links = self.plus[d]
                for _ in range(fwd):
                    path.append(links[cur])
                    cur = cur + st if ca < n - 1 else cur - (n - 1) * st
                    ca = ca + 1 if ca < n - 1 else 0
            else:
                links = self.minus[d]
                for _ in range(back):
                    path.append(links[cur])
                    cur = cur - st if ca > 0 else cur + (n - 1) * st
                    ca = ca - 1 if ca > 0 else n - 1
        return path


def build_torus(spec) -> Topology:
    p = resolve(spec)
    dims = p.torus_dims
    topo = Topology(p.name)
    servers = add_servers(topo, p, gpu_attrs=lambda r: {"coords": coords_of(r, dims)})
    port_Bps = p.scaleup_Bps / (TORUS_PORTS_PER_DIM * len(dims))
    lat = p.scaleup_latency_s
    node = servers.gpu_node
    plus = [[-1] * p.gpus for _ in dims]
    minus = [[-1] * p.gpus for _ in dims]
    stride = 1
    for d, n in enumerate(dims):
        if n >= 2:
            cap = port_Bps * (2 if n == 2 else 1)
            for r in range(p.gpus):
                c = (r // stride) % n
                if n == 2 and c == 1:
                    continue                     # the ring of 2 is one (doubled) link pair
                nxt = r + stride if c < n - 1 else r - (n - 1) * stride
                fwd = topo.add_link(node[r], node[nxt], cap, lat, "ici", "scaleup")
                back = topo.link_of[(node[nxt], node[r])]
                plus[d][r] = fwd
                minus[d][nxt] = back
                if n == 2:
                    plus[d][nxt] = back
                    minus[d][r] = fwd
        stride *= n
    topo.router = TorusRouter(topo, servers, dims, plus, minus)
    topo.meta = {**base_meta(p), "torus_dims": list(dims), "ici_port_GBps": port_Bps / 1e9,
                 "scaleout": "none: the torus is the only GPU-to-GPU fabric"}
    return topo
