"""archer-gym's learning agents: the project's tokenizer (``tokenizer``), the policy LM and the
critics (``models``), the replay buffer (``buffer``), rollouts (``rollout``), one module per
algorithm (``bc``: BC and filtered BC, ``archer``, ``offline``: offline ArCHer, ``ppo``,
``grpo``, ``chai``, ``sb3``: Stable-Baselines3 on the candidate-action wrapper), their shared
config base (``config``), safe checkpoints (``checkpoint``) and the ``archer-train`` command
(``train``), which also makes a run folder loadable by ``archer_envs.load_agent``."""
