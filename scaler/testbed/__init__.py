"""Launchers for the real parts of a live testbed on one machine: Prometheus,
Triton replicas (nvidia-pytriton), a GPU-utilisation exporter and a load
generator. Tests use them, and so does the ``scaler testbed`` command.

Every launcher binds loopback ports chosen by the kernel and owns its child
process group, so several testbeds can run side by side and none leaves a
process behind.
"""
