"""Tests of minitorch_ag.optim: optimizers, clipping, schedules, update_ and training loops."""
