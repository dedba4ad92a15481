"""The header policy (compose/headers.py): which origin may see a token, in which header, and the visitor's headers.

The same rules are proven end to end through the emulated edge in tests/test_edge_tokens.py; these pin the policy
on host names that cannot be served here (look-alike hosts, plain http).
"""

from __future__ import annotations

import pytest

import compose
from compose.headers import merge_headers, token_headers


@pytest.mark.parametrize(("origin", "expected"), [
    ("https://owner-app.hf.space", {"x-hf-authorization": "Bearer hf_x"}),
    ("https://OWNER-APP.HF.SPACE.", {"x-hf-authorization": "Bearer hf_x"}),
    ("https://huggingface.co", {"authorization": "Bearer hf_x"}),
    ("https://hf.co", {"authorization": "Bearer hf_x"}),
    ("https://api-inference.huggingface.co", {"authorization": "Bearer hf_x"}),
    ("http://owner-app.hf.space", {}),  # never in clear text
    ("https://owner-app.hf.space.evil.example", {}),
    ("https://evilhf.space", {}),
    ("https://huggingface.co.evil.example", {}),
    ("https://nothuggingface.co", {}),
    ("http://127.0.0.1:7860", {}),
])
def test_a_token_goes_only_to_hugging_face_in_its_proxys_header(origin: str, expected: dict[str, str]) -> None:
    assert token_headers("hf_x", origin) == expected


def test_visitor_headers_go_to_hugging_face_by_default_and_elsewhere_only_when_listed() -> None:
    visitor = [("x-ip-token", "visitor")]
    assert merge_headers({}, token=None, origin="https://a-b.hf.space", forwarded=visitor) == {"x-ip-token": "visitor"}
    assert merge_headers({}, token=None, origin="https://self-hosted.example", forwarded=visitor) == {}
    assert merge_headers({}, token=None, origin="http://127.0.0.1:7860", forwarded=visitor,
                         forward_anywhere=True) == {"x-ip-token": "visitor"}


def test_space_options_follow_the_policy() -> None:
    ident = compose.identity(session="s", headers={"x-ip-token": "visitor", "x-other": "o"}).value
    on_hf = compose.Space("https://owner-app.hf.space", token="hf_secret")
    accept = {"accept": "*/*"}  # every request's own, from the one header builder
    assert on_hf.upstream.headers(ident) == {**accept, "x-hf-authorization": "Bearer hf_secret",
                                             "x-ip-token": "visitor"}
    mine = compose.Space("https://mine.example", token="hf_secret")
    assert mine.upstream.headers(ident) == accept  # neither the token nor the visitor's header leave for another host
    listed = compose.Space("https://mine.example", forward_headers=("x-other",))
    assert listed.upstream.headers(ident) == {**accept, "x-other": "o"}
