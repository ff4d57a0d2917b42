"""Training: the paper's two-stage protocol, in parts named for what they do.

- :mod:`.protocol`   the whole run: :class:`~.protocol.Trainer` composes the parts below
- :mod:`.schedule`   which task's batch comes next in stage 1 (the paper's 1:1 by default)
- :mod:`.step`       one stage-1 step: tasks (a head and its loss), :func:`~.step.train_step`
- :mod:`.losses`     L_a, L_p and L, handed to the trainer (:class:`~.losses.Losses`)
- :mod:`.stage1`     the alternating loop: data, steps, reports, the kept epoch, checkpoints
- :mod:`.stage2`     pure solvers for the inter-task weights over frozen outputs: ``fit_sgd``, ``fit_lstsq``
- :mod:`.state`      what a checkpoint holds, as typed values
- :mod:`.checkpoint` writing, checking, pruning and finding checkpoints (and, for now, model files)
- :mod:`.distributed`, :mod:`.precision`, :mod:`.monitor`: torchrun/DDP, autocast, reports
"""
