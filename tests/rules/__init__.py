"""Gradient tables of minitorch_ag/rules, one module per rules file (see _cases.py)."""
