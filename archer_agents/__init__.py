"""archer-gym's learning agents: ArCHer and the baselines it was compared with.

Empty until the ArCHer work lands; the package exists so that the distribution layout
(archer_envs <- archer_agents <- baselines) is fixed from the start.
"""
