"""Running the agents: the ``hash-envs`` train/evaluate/benchmark/sweep commands and Ray
RLlib. The only wing that imports both :mod:`agents.algorithms` and :mod:`agents.hashes`.
"""

#: ``--threads`` help shared by the commands that train.
THREADS_HELP = (
    "torch threads (1 suits small batches and runs side by side; a single 1,024-env run "
    "trains about 1.5x faster with 2 on 2 idle cores)"
)
