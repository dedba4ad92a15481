"""Streaming: a generator that yields as it goes, and a long job with gr.Progress that records how it ended."""

import asyncio
import time

import gradio as gr

# What happened to each long job, newest last: the tests read it to see that a cancel stopped the job here.
JOBS: list[dict[str, object]] = []


def count_up(n: int = 5, delay: float = 0.2):
    """Count from 1 up to n, streaming the count as it grows ("1", "1 2", ...), `delay` seconds per number.

    Args:
        n: the number to count up to.
        delay: seconds to wait before each number.
    """
    text = ""
    for i in range(1, int(n) + 1):
        time.sleep(delay)
        text = f"{text} {i}".strip()
        yield text


async def long_job(seconds: float = 10, progress=gr.Progress()) -> str:
    """Run the long job: work for the given number of seconds, reporting progress; stops at once when cancelled.

    Args:
        seconds: how many seconds the job works.
    """
    job = {"seconds": seconds, "state": "running", "steps": 0}
    JOBS.append(job)
    steps = max(1, int(seconds * 10))
    try:
        for i in range(steps):
            progress((i, steps), desc="Working", unit="steps")
            await asyncio.sleep(0.1)
            job["steps"] = i + 1
    except BaseException:
        # Async, so gradio's cancel reaches us here (a thread could not be stopped).
        job["state"] = "cancelled"
        raise
    job["state"] = "finished"
    return f"worked {seconds} s"


def job_log() -> list[dict[str, object]]:
    """The long jobs seen so far and how each ended (running, finished or cancelled); takes no arguments."""
    return JOBS


with gr.Blocks(title="Streaming") as demo:
    n = gr.Slider(1, 50, value=5, step=1, label="n")
    delay = gr.Slider(0, 2, value=0.2, label="delay")
    counted = gr.Textbox(label="Counted")
    gr.Button("Count").click(count_up, [n, delay], counted, api_name="count_up")
    seconds = gr.Number(value=10, label="seconds")
    done = gr.Textbox(label="Result")
    gr.Button("Run long job").click(long_job, seconds, done, api_name="long_job")
    log = gr.JSON(label="Jobs")
    gr.Button("Job log").click(job_log, None, log, api_name="job_log")

if __name__ == "__main__":
    demo.launch(mcp_server=True)  # the MCP schema publishes each argument's docstring line
