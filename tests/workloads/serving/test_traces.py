"""Trace readers: the shipped traces parse to their published statistics; a bad line names
its file and line."""

import numpy as np
import pytest

from sim.errors import ConfigError
from workloads.serving.traces import read_azure, read_mooncake, read_trace


def test_azure_conv_matches_published_summary():
    t = read_trace("AzureLLMInferenceTrace_conv.csv")
    assert len(t) == 19366                      # traces README: 19,366 requests over 3,502 s
    assert t.arrival_s[0] == 0.0 and 3490 < t.arrival_s[-1] < 3510
    assert np.all(np.diff(t.arrival_s) >= 0)
    assert abs(t.input_tokens.mean() - 1155) < 1 and abs(t.output_tokens.mean() - 211) < 1


def test_mooncake_conversation_blocks_cover_prompt():
    t = read_trace("mooncake_fast25_conversation_trace.jsonl")
    assert len(t) == 12031 and t.block_tokens == 512
    n_blocks = np.array([len(b) for b in t.prefix_blocks])
    assert np.array_equal(n_blocks, -(-t.input_tokens // 512))     # length = ceil(input / 512)
    ids = np.concatenate(t.prefix_blocks)
    repeated = 1 - len(np.unique(ids)) / len(ids)
    assert abs(repeated - 0.366) < 0.01         # README: 36.6 % of block references repeat


def test_malformed_azure_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n"
                 "2023-11-16 18:15:47.0,abc,44\n")
    with pytest.raises(ConfigError, match=r"bad\.csv:3"):
        read_azure(p)


def test_malformed_mooncake_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": [0]}\n'
                 '{"timestamp": 5, "input_length": 10}\n')
    with pytest.raises(ConfigError, match=r"bad\.jsonl:2.*output_length"):
        read_mooncake(p)
    p.write_text('{"timestamp": 0, "input_length": 10, "output_length": 2\n')
    with pytest.raises(ConfigError, match=r"bad\.jsonl:1"):
        read_mooncake(p)


def test_missing_trace_is_config_error():
    with pytest.raises(ConfigError, match="workload.trace"):
        read_trace("no-such-trace.csv")
