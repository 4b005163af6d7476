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

Names are imported on first use, so ``from agents import load_hash`` does not import
torch or Stable-Baselines3.
"""

from __future__ import annotations

from hash_envs.lazy import lazy_exports

_EXPORTS = {
    "PG": "agents.pg",
    "A2C": "agents.a2c",
    "SACDiscrete": "agents.sac_discrete",
    "EpisodePG": "agents.episode_pg",
    "PilotQ": "agents.pilot_q",
    "PilotHash": "agents.pilot_q",
    "load_pilot_hash": "agents.pilot_q",
    "PolicyHash": "agents.policy_hash",
    "HashNetwork": "agents.hash_network",
    "QuantizedHash": "agents.quantized_hash",
    "load_hash": "agents.artifact",
    "OnnxHash": "agents.artifact",
    "ArtifactError": "agents.artifact",
    "VectorEnvAdapter": "agents.vec_env",
    "make_sb3_vec_env": "agents.vec_env",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, extra="rl")
