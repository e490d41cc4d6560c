"""Run omni models on CrossOmni, score them with the ``crossomni_acc`` metric, report like the paper."""
