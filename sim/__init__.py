"""dcsim: a discrete-event simulator of AI datacenters.

The import package is ``sim``; the building blocks (kernel, hardware, fabric, collectives,
compute model, metrics) live here and know nothing of ``topologies`` or ``workloads``.
Only the composition root (``sim.runner`` and ``sim.cli``) imports all three.
"""

__version__ = "0.1.0"
