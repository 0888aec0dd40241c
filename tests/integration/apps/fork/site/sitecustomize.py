"""Runs at interpreter start-up in herd's master (this directory is put on
PYTHONPATH by tests/integration/test_fork_safety.py): starts the master
threads named by $FORKTEST_THREADS before the app is loaded and before the
first fork. See forkshared.py."""
import forkshared

forkshared.setup()
