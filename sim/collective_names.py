"""The names of collectives, algorithms and NCCL protocols (``sim.collectives`` runs them).

A module of names alone, without numpy or the fabric, so that the command line lists them in its
``--help`` from the registry itself without importing the simulator (about a second).

Vocabulary (``sim.collectives`` says what each does):
- ``OPS``: the collectives; ``send_recv`` takes a group of two.
- ``ALGOS``: ``auto`` (NCCL's tuner chooses) and every algorithm ``sim.collectives.plan`` runs.
- ``PROTOCOLS``: NCCL's protocols, each with its own bandwidth share and per-step latency.
"""

OPS = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all", "broadcast", "send_recv")
ALGOS = ("auto", "ring", "tree", "hierarchical", "direct", "nvls", "nvls_tree")
PROTOCOLS = ("LL", "LL128", "Simple")
