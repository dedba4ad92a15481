"""The agent evaluation (run: python -m bench.agent_eval)."""
