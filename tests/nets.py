"""Small hand-wired topologies for tests of the fabric and collectives (independent of the
builders in topologies/, so a builder bug cannot hide a fabric bug)."""

from sim.topology import Topology


def switch_domain(n: int, bw: float = 100.0, lat: float = 0.0, nvls: bool = False) -> Topology:
    """n GPUs on one NVSwitch, each with ``bw`` bytes/s per direction."""
    t = Topology("star")
    sw = t.add_node("nvs0", "nvswitch")
    for i in range(n):
        g = t.add_node(f"gpu{i}", "gpu", node=0, domain=0)
        t.add_link(g, sw, bw, lat, "nvlink", "scaleup")
    t.meta["nvls"] = nvls
    return t


def two_level(nodes: int, per_node: int, up_bw: float = 100.0, nic_bw: float = 10.0,
              up_lat: float = 0.0, out_lat: float = 0.0, spines: int = 1, leaf_nodes: int | None = None,
              uplink_bw: float | None = None) -> Topology:
    """``nodes`` servers of ``per_node`` GPUs on an NVSwitch each; one NIC per GPU to a leaf
    (``leaf_nodes`` servers per leaf, default all on one leaf), leaves to ``spines`` spines."""
    t = Topology("two-level")
    leaf_nodes = leaf_nodes or nodes
    n_leaves = -(-nodes // leaf_nodes)
    leaves = [t.add_node(f"leaf{i}", "switch", tier=1) for i in range(n_leaves)]
    spine_nodes = [t.add_node(f"spine{i}", "switch", tier=2) for i in range(spines)] if n_leaves > 1 else []
    for s in range(nodes):
        sw = t.add_node(f"nvs{s}", "nvswitch")
        for j in range(per_node):
            g = t.add_node(f"gpu{s * per_node + j}", "gpu", node=s, domain=s)
            nic = t.add_node(f"nic{s * per_node + j}", "nic")
            t.set_attr(g, "nic", nic)
            t.add_link(g, sw, up_bw, up_lat, "nvlink", "scaleup")
            t.add_link(g, nic, 4 * nic_bw, 0.0, "pcie", "scaleout")
            t.add_link(nic, leaves[s // leaf_nodes], nic_bw, out_lat, "nic", "scaleout")
    per_leaf_down = leaf_nodes * per_node * nic_bw
    for leaf in leaves:
        for sp in spine_nodes:
            t.add_link(leaf, sp, (uplink_bw or per_leaf_down) / max(1, len(spine_nodes)), out_lat,
                       "leaf-spine", "scaleout")
    return t
