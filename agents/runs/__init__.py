"""Running the agents: the ``hash-envs`` train/evaluate/benchmark/sweep commands and Ray
RLlib. The only wing that imports both :mod:`agents.algorithms` and :mod:`agents.hashes`.
"""
