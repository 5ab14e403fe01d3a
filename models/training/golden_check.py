"""Shared by check_sg2.py and check_st.py: prints each comparison's max |diff| and exits non-zero above the limit."""
import sys


def report(checks, limit=1e-4):
    worst = 0.0
    for name, (actual, expected) in checks.items():
        diff = (actual - expected).abs().max().item()
        worst = max(worst, diff)
        print(f'{name}: max abs diff {diff:.2e}')
    sys.exit(0 if worst < limit else 1)
