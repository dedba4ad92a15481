"""Which model an agent gets, and an agent built for it.

Order (`select_model()`):
1. The model named explicitly: the `explicit` argument, else the COMPOSE_MODEL environment variable. "local" and
   "router" force the embedded model or the rule-based router; "hf:<id>" and "openai:<id>" force a provider; any
   other string is a model id for the first provider whose credentials are set (HF first); a smolagents `Model`
   is used as it is.
2. A real provider whose credentials are in the environment: HF_TOKEN → smolagents `InferenceClientModel`
   (COMPOSE_HF_MODEL, else smolagents' default model); OPENAI_BASE_URL / OPENAI_API_KEY → `OpenAIServerModel`
   (COMPOSE_OPENAI_MODEL or OPENAI_MODEL, else "gpt-4o-mini"; needs the `openai` package).
3. The embedded default, Qwen2.5-Coder-0.5B run in-process by llama.cpp, when its extra is installed.
4. The rule-based router, clearly labelled, when no LLM is installed.

Constructing any of them does no network I/O and loads nothing: the local model loads on its first step.

Usage:
    model, label = select_model()
    agent = make_agent(registry.tools(), model)       # compact prompt for the small local model
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from typing import Any

from smolagents import ToolCallingAgent
from smolagents.models import Model

from ...errors import ConfigError
from .local import INSTALL_HINT, LOCAL_LABEL, LocalModel, cached_model_path, parts_installed
from .router import ROUTER_LABEL, RouterModel
from .steps import compact_system_prompt

__all__ = ["LOCAL_LABEL", "ROUTER_LABEL", "describe", "local_model_available", "make_agent", "select_model"]

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"


def local_model_available() -> bool:
    """Whether the embedded model can run here: xllamacpp importable and the model's bytes installed (the chunk
    distributions, or a copy already in the cache). Imports nothing and hashes nothing."""
    if importlib.util.find_spec("xllamacpp") is None:
        return False
    return parts_installed() or cached_model_path() is not None


def describe(model: Model) -> str:
    """A human label for a model's backend."""
    label = getattr(model, "label", None)
    if isinstance(label, str):
        return label
    name = type(model).__name__
    if name == "InferenceClientModel":
        return f"HF Inference: {model.model_id}"
    if name in ("OpenAIServerModel", "OpenAIModel"):
        base = (getattr(model, "client_kwargs", {}) or {}).get("base_url") or DEFAULT_OPENAI_URL
        return f"OpenAI-compatible: {base}"
    return f"{name}: {model.model_id}"


def _hf(model_id: str | None) -> Model:
    from smolagents import InferenceClientModel

    token = os.environ.get("HF_TOKEN") or None
    if model_id:
        return InferenceClientModel(model_id=model_id, token=token)
    return InferenceClientModel(token=token)


def _openai(model_id: str | None) -> Model:
    from smolagents import OpenAIServerModel

    model_id = model_id or os.environ.get("COMPOSE_OPENAI_MODEL") or os.environ.get("OPENAI_MODEL") or \
        DEFAULT_OPENAI_MODEL
    try:
        return OpenAIServerModel(model_id=model_id, api_base=os.environ.get("OPENAI_BASE_URL") or None,
                                 api_key=os.environ.get("OPENAI_API_KEY") or None)
    except ModuleNotFoundError as e:
        raise ConfigError(f"an OpenAI-compatible model needs the openai package: pip install openai ({e})") from None


def _local() -> Model:
    if not local_model_available():
        raise ConfigError(f"the embedded model is not installed: {INSTALL_HINT}")
    return LocalModel()


def _named(name: str) -> Model:
    lowered = name.strip().lower()
    if lowered in ("local", "embedded", "qwen", "llama.cpp"):
        return _local()
    if lowered in ("router", "rules", "rule-based", "none"):
        return RouterModel()
    if lowered.startswith("hf:"):
        return _hf(name.strip()[3:] or None)
    if lowered.startswith("openai:"):
        return _openai(name.strip()[7:] or None)
    if os.environ.get("HF_TOKEN"):
        return _hf(name.strip())
    if os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY"):
        return _openai(name.strip())
    return _hf(name.strip())  # huggingface_hub may still find a token saved by `hf auth login`


def select_model(explicit: str | Model | None = None) -> tuple[Model, str]:
    """The model to use and a human label of its backend (see the module docstring for the order)."""
    if isinstance(explicit, Model):
        return explicit, describe(explicit)
    name = explicit or os.environ.get("COMPOSE_MODEL") or None
    if name:
        model = _named(name)
        return model, describe(model)
    if os.environ.get("HF_TOKEN"):
        model = _hf(os.environ.get("COMPOSE_HF_MODEL") or None)
        return model, describe(model)
    if os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY"):
        try:
            model = _openai(None)
            return model, describe(model)
        except ConfigError as e:
            warnings.warn(f"OpenAI-compatible credentials are set but unusable, falling back: {e}", stacklevel=2)
    if local_model_available():
        local = LocalModel()
        return local, describe(local)
    router = RouterModel()
    return router, describe(router)


def make_agent(tools: list[Any], model: Model, *, compact: bool | None = None, max_steps: int | None = None,
               **kwargs: Any) -> ToolCallingAgent:
    """A ToolCallingAgent for `model`. With the embedded model or the router (or `compact=True`) its system prompt
    is a compact one (one line per tool) instead of smolagents' long default, which a 0.5B model on a CPU pays
    for at ~150 tokens/s. Steps are capped at 6 for those models unless `max_steps` says otherwise."""
    small = isinstance(model, (LocalModel, RouterModel))
    compact = small if compact is None else compact
    if max_steps is None and small:
        max_steps = 6
    if max_steps is not None:
        kwargs["max_steps"] = max_steps
    agent = ToolCallingAgent(tools=tools, model=model, **kwargs)
    if compact:
        prompt = compact_system_prompt(agent.tools.values(), agent.instructions)
        # a literal, not a template: descriptions may hold jinja syntax
        literal = "{% raw %}" + prompt.replace("{% endraw %}", "") + "{% endraw %}"
        agent.prompt_templates = {**agent.prompt_templates, "system_prompt": literal}  # type: ignore[typeddict-item]
        agent.memory.system_prompt.system_prompt = agent.system_prompt
    return agent
