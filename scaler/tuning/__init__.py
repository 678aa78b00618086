"""``scaler tune``: a budgeted search over a policy's parameters on the simulator.

:mod:`scaler.tuning.space` turns a policy's pydantic parameters into search
dimensions; :mod:`scaler.tuning.search` runs the seeded search through the same
simulator engine as ``scaler simulate``; :mod:`scaler.tune` is the public face.
"""
