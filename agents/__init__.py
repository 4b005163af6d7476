"""RL agents for the hash environments, and trained policies as hash functions.

* :class:`PG` (REINFORCE), :class:`A2C` and :class:`SACDiscrete` -- Stable-Baselines3
  algorithms for any env with a ``Discrete`` action space;
* :class:`EpisodePG` -- REINFORCE that simulates whole episodes of the stateless env
  in one forward pass (for memorisation at scale);
* :class:`PilotQ` -- hash-and-displace Q-learning: one pilot per bucket of words, learned
  from the env's rewards; its greedy policy is a :class:`PilotHash`, a perfect hash of
  the pool (the whole Moby list included);
* :class:`PolicyHash` -- a trained stateless policy as a deterministic hash function,
  exported by ``export_onnx`` and read back by :func:`load_hash` with onnxruntime only;
  :class:`QuantizedHash` (``PolicyHash.quantize()``) -- its network in exact integer
  arithmetic: a different, faster hash function with the same guarantees;
* :class:`VectorEnvAdapter` -- SB3 rollouts from our native vector envs.

The package has three wings and a shared base, with imports pointing one way
(``runs`` -> ``algorithms``, ``hashes`` -> ``common`` -> :mod:`hash_envs`):

* :mod:`agents.algorithms` -- training algorithms, their callbacks and vector-env adapter;
* :mod:`agents.hashes` -- what a trained policy becomes: the hash network and its
  certified fast path, :class:`PolicyHash`, :class:`QuantizedHash`, ONNX artifacts;
* :mod:`agents.runs` -- running them: the ``hash-envs`` train/evaluate/benchmark/sweep
  commands and Ray RLlib;
* :mod:`agents.common` -- what algorithms and hashes both compute: the word-scoring
  layers and the pilot table (:class:`PilotHash`), so that a trained policy and its hash
  are one function by construction. ``algorithms`` and ``hashes`` never import each
  other (``tests/test_layout.py``).

Names are imported on first use, so ``from agents import load_hash`` does not import
torch or Stable-Baselines3.
"""

from __future__ import annotations

from hash_envs.lazy import lazy_exports

_EXPORTS = {
    "PG": "agents.algorithms.pg",
    "A2C": "agents.algorithms.a2c",
    "SACDiscrete": "agents.algorithms.sac_discrete",
    "EpisodePG": "agents.algorithms.episode_pg",
    "HashPolicy": "agents.algorithms.policies",
    "TableAwareHashPolicy": "agents.algorithms.policies",
    "HashQPolicy": "agents.algorithms.q_policy",
    "PilotQ": "agents.algorithms.pilot_q",
    "PilotHash": "agents.common.pilots",
    "load_pilot_hash": "agents.common.pilots",
    "PolicyHash": "agents.hashes.policy_hash",
    "HashNetwork": "agents.hashes.hash_network",
    "QuantizedHash": "agents.hashes.quantized_hash",
    "load_hash": "agents.hashes.artifact",
    "OnnxHash": "agents.hashes.artifact",
    "ArtifactError": "agents.hashes.artifact",
    "VectorEnvAdapter": "agents.algorithms.vec_env",
    "make_sb3_vec_env": "agents.algorithms.vec_env",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, extra="rl")
