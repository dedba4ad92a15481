"""The agent evaluation: prompts over the demo's Spaces, on the embedded model and on the rule-based router.

Each prompt runs in a fresh chat (a new agent, as a new visitor gets), through `compose.stream_trace` as the chat
app runs it. Per category: the share of prompts whose calls and answer are both right; the median seconds to the
first tool message and to the answer. A conversation section runs several turns in one chat and reports the
seconds per turn (the prompt cache should keep them flat).

Usage:
    python -m bench.agent_eval                          # everything: both models, tuned + held-out prompts
    python -m bench.agent_eval --model local --category "two-step chain"   # a part, while iterating
    python -m bench.agent_eval --held-out --model local
    python -m bench.agent_eval --no-write               # print only

Results: bench/AGENT_EVAL.md (the table) and bench/agent_eval_results.json (every prompt, calls and answer).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .cases import CASES, CATEGORIES, HELD_OUT, Case, check

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE.parent / "AGENT_EVAL.md"
RESULTS_JSON = HERE.parent / "agent_eval_results.json"
CONVERSATION = ["what is 12 times 7", "translate 'thank you' to German", "Add 5 and 7, then multiply the result by 3",
                "Count to 4 for me", "Divide 5 by 0", "What is 100 minus 37?", "Hi! Who are you?",
                "Translate 'cat' to Spanish and 'dog' to German"]


@dataclass
class Outcome:
    prompt: str
    category: str
    held_out: bool
    calls: list[tuple[str, dict[str, Any]]]
    answer: str
    calls_ok: bool
    answer_ok: bool
    why: str
    first_tool_s: float | None
    answer_s: float
    trace_titles: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.calls_ok and self.answer_ok


def calls_made(agent: Any) -> list[tuple[str, dict[str, Any]]]:
    from smolagents.memory import ActionStep

    made = []
    for step in agent.memory.steps:
        if isinstance(step, ActionStep):
            if step.tool_calls:
                calls = [(c.name, c.arguments) for c in step.tool_calls]
            else:  # smolagents records no call for a step whose call failed: the model's message has it
                message = step.model_output_message
                calls = [(c.function.name, c.function.arguments) for c in (message.tool_calls or [])] \
                    if message is not None else []
            for name, arguments in calls:
                if name != "final_answer":
                    made.append((name, dict(arguments) if isinstance(arguments, dict) else {}))
    return made


def run_prompt(agent: Any, prompt: str, *, reset: bool = True) -> tuple[str, float | None, float, list[str]]:
    """(answer, seconds to the first tool message, seconds to the answer, tool message titles)."""
    from compose.agent.trace import stream_trace

    started = time.perf_counter()
    first: float | None = None
    messages: list[Any] = []
    for messages in stream_trace(agent, prompt, reset=reset):
        if first is None and any("Used tool" in str(dict(m.metadata or {}).get("title", "")) for m in messages):
            first = time.perf_counter() - started
    elapsed = time.perf_counter() - started
    final = messages[-1] if messages else None
    answer = str(final.content) if final is not None and not final.metadata else ""
    return answer, first, elapsed, [str(dict(m.metadata).get("title")) for m in messages if m.metadata]


def evaluate(model: Any, registry: Any, cases: Sequence[Case], held_out: bool, echo: bool) -> list[Outcome]:
    from compose.apps.models import make_agent

    out = []
    for case in cases:
        agent = make_agent(registry.tools(), model, max_steps=6, verbosity_level=-1)
        answer, first, elapsed, titles = run_prompt(agent, case.prompt)
        made = calls_made(agent)
        calls_ok, answer_ok, why = check(case, made, answer)
        outcome = Outcome(case.prompt, case.category, held_out, made, answer, calls_ok, answer_ok, why, first,
                          elapsed, titles)
        out.append(outcome)
        if echo:
            mark = "ok " if outcome.ok else "BAD"
            print(f"  {mark} {elapsed:5.1f}s [{case.category}] {case.prompt!r} → {answer[:90]!r}"
                  + (f"\n        {why}" if why else ""), flush=True)
    return out


def conversation(model: Any, registry: Any, echo: bool) -> list[float]:
    """Seconds to the answer of each turn of one chat (memory kept between turns)."""
    from compose.apps.models import make_agent

    agent = make_agent(registry.tools(), model, max_steps=6, verbosity_level=-1)
    seconds = []
    for i, prompt in enumerate(CONVERSATION):
        answer, _, elapsed, _ = run_prompt(agent, prompt, reset=i == 0)
        seconds.append(elapsed)
        if echo:
            print(f"  turn {i + 1}: {elapsed:5.1f}s {prompt!r} → {answer[:70]!r}", flush=True)
    return seconds


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def table(outcomes: Sequence[Outcome]) -> list[str]:
    rows = ["| category | prompts | right | calls right | answers right | median s to first tool message | "
            "median s to answer |", "|---|---:|---:|---:|---:|---:|---:|"]
    groups = [(c, [o for o in outcomes if o.category == c]) for c in CATEGORIES]
    for name, group in [*groups, ("**overall**", list(outcomes))]:
        if not group:
            continue
        right = sum(o.ok for o in group)
        rows.append(f"| {name} | {len(group)} | {100 * right / len(group):.0f} % | "
                    f"{100 * sum(o.calls_ok for o in group) / len(group):.0f} % | "
                    f"{100 * sum(o.answer_ok for o in group) / len(group):.0f} % | "
                    f"{_fmt(_median([o.first_tool_s for o in group]))} | "
                    f"{_fmt(_median([o.answer_s for o in group]))} |")
    return rows


def markdown(report: dict[str, Any]) -> str:
    """bench/AGENT_EVAL.md from the results file."""
    lines = ["# Agent evaluation", "",
             "`python -m bench.agent_eval`: each prompt in a fresh chat over the demo's Spaces (calculator, "
             "translator, streaming) on loopback, as `compose demo` runs them; a prompt is right when both its tool "
             "calls and its answer are. Tuned: the prompts the embedded model was developed on; held-out: written "
             "with them, never tuned on. Times are wall-clock seconds on a 2-core machine shared with other work.",
             ""]
    for label, entry in report["models"].items():
        for key in ("tuned", "held_out"):
            if key not in entry:
                continue
            run = entry[key]
            outcomes = [Outcome(**{**o, "calls": [tuple(c) for c in o["calls"]]}) for o in run["results"]]
            lines += [f"## {label}: {key.replace('_', '-')} prompts (run {run['date']}, commit {run['commit']})",
                      "", *table(outcomes), ""]
        if "conversation_s" in entry:
            lines += [f"Seconds to the answer, turn by turn in one chat of {len(entry['conversation_s'])} turns "
                      f"({label}): " + ", ".join(f"{s:.1f}" for s in entry["conversation_s"]), ""]
    return "\n".join(lines)


def _git() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["local", "router", "both"], default="both")
    parser.add_argument("--category", action="append", help="only these categories (repeatable)")
    parser.add_argument("--held-out", action="store_true", help="only the held-out prompts")
    parser.add_argument("--tuned", action="store_true", help="only the tuned prompts")
    parser.add_argument("--prompt", action="append", help="only prompts containing this text (repeatable)")
    parser.add_argument("--no-conversation", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    from compose.apps.demo import DEMO_SPACES, build_registry
    from compose.apps.models import LocalModel, RouterModel, local_model_available
    from compose.apps.processes import launch_spaces

    def chosen(cases: list[Case]) -> list[Case]:
        return [c for c in cases if (not args.category or c.category in args.category)
                and (not args.prompt or any(p.lower() in c.prompt.lower() for p in args.prompt))]

    suites = [] if args.held_out else [(False, chosen(CASES))]
    if not args.tuned:
        suites.append((True, chosen(HELD_OUT)))
    models: list[tuple[str, Any]] = []
    if args.model in ("local", "both"):
        if not local_model_available():
            print("the embedded model is not installed; skipping it", file=sys.stderr)
        else:
            models.append(("embedded Qwen2.5-Coder-0.5B", LocalModel()))
    if args.model in ("router", "both"):
        models.append(("rule-based router", RouterModel()))
    report: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "commit": _git(),
                              "models": {}}
    with launch_spaces(DEMO_SPACES) as running:
        registry = build_registry([running[name].url for name in DEMO_SPACES])
        for label, model in models:
            if hasattr(model, "load"):
                print(f"loading {label}: {model.load():.1f} s", flush=True)
            entry: dict[str, Any] = {}
            for held_out, cases in suites:
                if not cases:
                    continue
                print(f"{label}, {'held-out' if held_out else 'tuned'} prompts ({len(cases)}):", flush=True)
                outcomes = evaluate(model, registry, cases, held_out, not args.quiet)
                key = "held_out" if held_out else "tuned"
                entry[key] = [asdict(o) for o in outcomes]
                print("\n".join(table(outcomes)), flush=True)
            if not args.no_conversation and not args.category and not args.prompt:
                seconds = conversation(model, registry, not args.quiet)
                entry["conversation_s"] = seconds
            report["models"][label] = entry
    if not args.no_write:
        # A run of one model or one suite keeps the other results of the file (each stamped with its own run).
        try:
            previous = json.loads(RESULTS_JSON.read_text())["models"]
        except (OSError, ValueError, KeyError):
            previous = {}
        for label, entry in report["models"].items():
            previous[label] = {**previous.get(label, {}),
                               **{k: {"date": report["date"], "commit": report["commit"], "results": v}
                                  if k != "conversation_s" else v for k, v in entry.items()}}
        report["models"] = previous
        RESULTS_MD.write_text(markdown(report) + "\n")
        RESULTS_JSON.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n")
        print(f"wrote {RESULTS_MD.name} and {RESULTS_JSON.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
