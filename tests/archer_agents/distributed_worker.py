"""Run by tests/archer_agents/test_distributed.py under torchrun (two CPU processes, gloo):
one ArCHer critic and actor step with an accelerator, then process 0 writes what every process
saw as JSON."""

import hashlib
import json
import sys

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object

from archer_agents.archer import ArCHer, ArCHerConfig
from archer_agents.models import PolicyLM, UtteranceCritic


def digest(module: torch.nn.Module) -> str:
    flat = torch.cat([p.detach().flatten() for p in module.parameters()])
    return hashlib.sha256(flat.numpy().tobytes()).hexdigest()


def main(out: str) -> None:
    accelerator = Accelerator(cpu=True)
    rank = accelerator.process_index
    torch.manual_seed(rank)  # different weights on purpose: process 0's must be broadcast
    config = ArCHerConfig(batch_size=8, max_new_tokens=6)
    trainer = ArCHer(
        config,
        PolicyLM("tiny", max_new_tokens=6),
        UtteranceCritic("tiny"),
        seed=0,
        accelerator=accelerator,
    )
    start = digest(trainer.policy), digest(trainer.critic)
    for i in range(32):  # the same transitions in every process's buffer
        observation = "Questions:\n" + "Is it an animal? No.\n" * (i % 4)
        trainer.buffer.add(observation, f"Is it a pen {i}?", -1.0, observation, i % 5 == 4)
    batch = trainer.sample()
    trainer.critic_step()
    trainer.actor_step()
    # the averaged gradient of a small layer against each process's own gradient
    layer = torch.nn.Linear(3, 1)
    torch.manual_seed(7)
    layer.load_state_dict(torch.nn.Linear(3, 1).state_dict())
    (layer(torch.full((1, 3), float(rank + 1))) ** 2).sum().backward()
    own = [p.grad.flatten().tolist() for p in layer.parameters()]
    trainer.average_gradients(layer)
    averaged = [p.grad.flatten().tolist() for p in layer.parameters()]
    seen = gather_object(
        [
            {
                "start": start,
                "end": (
                    digest(trainer.policy),
                    digest(trainer.critic),
                    digest(trainer.critic.target),
                ),
                "batch": batch.actions,
                "own": own,
                "averaged": averaged,
            }
        ]
    )
    if accelerator.is_main_process:
        with open(out, "w") as handle:
            json.dump(seen, handle)
    # leave together: a process that exits while the other's gloo threads still talk to it
    # aborts ("terminate called without an active exception")
    accelerator.wait_for_everyone()
    accelerator.end_training()


if __name__ == "__main__":
    main(sys.argv[1])
