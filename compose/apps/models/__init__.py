"""Models for agents: which one to use (`select_model`), the embedded local LLM, and the rule-based router.

Usage:
    from compose.apps.models import make_agent, select_model
    model, label = select_model()                 # explicit > HF_TOKEN / OpenAI > embedded Qwen > router
    agent = make_agent(registry.tools(), model)   # a ToolCallingAgent, compact prompt for the small models
"""

from .local import LOCAL_LABEL, LocalModel, ensure_model_file, join_chunks, verify_file
from .router import ROUTER_LABEL, RouterModel
from .select import describe, local_model_available, make_agent, select_model
from .steps import compact_system_prompt

__all__ = [
    "LOCAL_LABEL",
    "ROUTER_LABEL",
    "LocalModel",
    "RouterModel",
    "compact_system_prompt",
    "describe",
    "ensure_model_file",
    "join_chunks",
    "local_model_available",
    "make_agent",
    "select_model",
    "verify_file",
]
