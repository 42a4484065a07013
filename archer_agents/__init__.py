"""archer-gym's learning agents: the models (``models``), replay buffer, rollouts, behaviour
cloning (``bc``), ArCHer (``archer``) and the ``archer-train`` command (``train``)."""
