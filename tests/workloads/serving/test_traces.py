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


@pytest.mark.parametrize("row, column, why", [
    ('{"timestamp": 0, "input_length": 100.5, "output_length": 2}', "input_length", "whole number"),
    ('{"timestamp": -5, "input_length": 10, "output_length": 2}', "timestamp", "negative"),
    ('{"timestamp": 0, "input_length": 10, "output_length": 0}', "output_length", ">= 1"),
    ('{"timestamp": 0, "input_length": true, "output_length": 2}', "input_length", "not a token count"),
    # these were read as 1 ms, 12 ms, blocks 1 and 2, and a 0-d array of block 7
    ('{"timestamp": true, "input_length": 10, "output_length": 2}', "timestamp", "true is not a number"),
    ('{"timestamp": "12", "input_length": 10, "output_length": 2}', "timestamp", "is not a number"),
    ('{"timestamp": 1, "input_length": 10, "output_length": 2, "hash_ids": [1.5, 2.7]}', "hash_ids", "not a list of integer"),
    ('{"timestamp": 1, "input_length": 10, "output_length": 2, "hash_ids": 7}', "hash_ids", "not a list of integer"),
    ('[1, 2]', "JSON object", "per line")])
def test_a_mooncake_row_no_request_can_have_names_file_line_and_column(tmp_path, row, column, why):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"timestamp": 0, "input_length": 10, "output_length": 2}\n' + row + "\n")
    with pytest.raises(ConfigError, match=rf"bad\.jsonl:2.*{column}.*{why}"):
        read_mooncake(p)


@pytest.mark.parametrize("row, column", [("2023-11-16 18:15:47.0,10,0", "GeneratedTokens"),
                                         ("2023-11-16 18:15:47.0,10.5,3", "ContextTokens")])
def test_an_azure_row_with_no_output_or_a_fractional_count_is_an_error(tmp_path, row, column):
    p = tmp_path / "bad.csv"
    p.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n" + row + "\n")
    with pytest.raises(ConfigError, match=rf"bad\.csv:3.*{column}"):
        read_azure(p)


def test_whole_float_counts_are_read_as_integers(tmp_path):
    p = tmp_path / "ok.jsonl"
    p.write_text('{"timestamp": 0, "input_length": 100.0, "output_length": 2}\n')
    assert read_mooncake(p).input_tokens.tolist() == [100]


def test_a_trace_saved_with_a_byte_order_mark_reads_as_without(tmp_path):
    # Excel's "CSV UTF-8" starts the file with a BOM: "expected header TIMESTAMP,..., got TIMESTAMP,..."
    bom = "\ufeff"
    azure = "TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:15:46.6805900,374,44\r\n"
    (tmp_path / "a.csv").write_text(bom + azure, encoding="utf-8")
    (tmp_path / "b.csv").write_text(azure, encoding="utf-8")
    a, b = read_azure(tmp_path / "a.csv"), read_azure(tmp_path / "b.csv")
    assert list(a.input_tokens) == list(b.input_tokens) == [374]
    (tmp_path / "m.jsonl").write_text(bom + '{"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": [0]}\n',
                                      encoding="utf-8")
    assert list(read_mooncake(tmp_path / "m.jsonl").output_tokens) == [2]


def test_an_empty_azure_trace_and_a_bad_timestamp_say_what_is_wrong(tmp_path):
    # an empty file read "expected header ..., got " and a bad time "not enough values to unpack"
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ConfigError, match=r"empty\.csv is empty: an Azure trace starts with the header"):
        read_azure(tmp_path / "empty.csv")
    (tmp_path / "t.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\nnotatime,374,44\n")
    with pytest.raises(ConfigError, match=r"t\.csv:2: malformed line \(TIMESTAMP: 'notatime' is not a time"):
        read_azure(tmp_path / "t.csv")


@pytest.mark.parametrize("stamp", ["2023-11-16 25:15:46.68", "2023-11-16 18:61:46.68", "2023-11-16 18:15:75.5",
                                   "2023-11-16 -1:15:46.68"])
def test_an_azure_clock_out_of_range_is_an_error_not_the_next_day(tmp_path, stamp):
    p = tmp_path / "t.csv"          # 25:15 was read as 01:15 of the next day
    p.write_text(f"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n{stamp},10,3\n")
    with pytest.raises(ConfigError, match=r"t\.csv:3: malformed line \(TIMESTAMP: .* is not a time"):
        read_azure(p)


def test_an_azure_timestamp_that_goes_backwards_names_the_file_both_lines_and_both_times(tmp_path):
    # read silently (rows reordered): a trace out of order is a trace cut, pasted or merged wrongly
    p = tmp_path / "u.csv"
    p.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:40.5,374,44\n"
                 "2023-11-16 18:15:46.5,100,20\n\n2023-11-16 18:15:46.4999999,10,2\n")
    with pytest.raises(ConfigError) as err:
        read_azure(p)
    assert err.value.key == "workload.trace"
    assert (f"{p}:5: timestamp 2023-11-16 18:15:46.4999999 is earlier than 2023-11-16 18:15:46.5 on line 3"
            in str(err.value)) and "sort" in str(err.value)
    # equal timestamps are in order (the published traces have them); 100 ns apart is in order too
    p.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:40.5,374,44\n"
                 "2023-11-16 18:15:40.5,100,20\n2023-11-16 18:15:40.5000001,10,2\n")
    t = read_azure(p)
    assert t.arrival_s.tolist() == pytest.approx([0.0, 0.0, 1e-7], abs=1e-12) and t.input_tokens.tolist() == [374, 100, 10]


def test_a_mooncake_timestamp_that_goes_backwards_names_the_file_both_lines_and_both_times(tmp_path):
    row = '{{"timestamp": {t}, "input_length": {n}, "output_length": 2, "hash_ids": [{n}]}}\n'
    p = tmp_path / "u.jsonl"
    p.write_text(row.format(t=0, n=1) + row.format(t=40, n=2) + row.format(t=40, n=3) + row.format(t=39.5, n=4))
    with pytest.raises(ConfigError) as err:
        read_mooncake(p)
    assert f"{p}:4: timestamp 39.5 is earlier than 40 on line 3" in str(err.value)
    from sim.app.cli import main        # dcsim run: exit 2, one line naming the file
    (tmp_path / "run.toml").write_text('[run]\nkind = "serve"\n[workload]\narrival = "trace"\ntrace = "u.jsonl"\n')
    assert main(["run", str(tmp_path / "run.toml"), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
    p.write_text(row.format(t=0, n=1) + row.format(t=40, n=2) + row.format(t=40, n=3))
    t = read_mooncake(p)        # equal timestamps: in order, and kept in file order
    assert t.arrival_s.tolist() == [0.0, 0.04, 0.04] and [b.tolist() for b in t.prefix_blocks] == [[1], [2], [3]]


def test_azure_timestamps_keep_their_100_ns_digits():
    # seconds since year 1 (~6.4e10) hold only ~8 us in a float: 46.6805900 -> 50.9951690 came back
    # 4.314582824707031 s apart, not 4.3145790 (the reader parses the 7th digit by hand to keep it)
    import io
    from pathlib import Path
    from workloads.serving.traces import _read_azure
    text = ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n"
            "2023-11-16 18:15:50.9951690,396,109\n2023-11-17 00:00:00.0000001,10,2\n")
    t = _read_azure(Path("mem.csv"), io.StringIO(text))
    assert t.arrival_s[1] == pytest.approx(4.3145790, abs=1e-9)
    assert t.arrival_s[2] == pytest.approx(20653.3194101, abs=1e-9)    # across the hour and into the next day


def test_read_trace_reads_a_file_once_while_it_is_unchanged(tmp_path):
    # a run checks its trace before it starts and its workload reads it again: one read, not two
    import os
    p = tmp_path / "t.csv"
    p.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:40.5,374,44\n"
                 "2023-11-16 18:15:41.5,100,20\n")
    a = read_trace(str(p))
    assert read_trace(str(p)) is a
    with pytest.raises(ValueError):         # one copy serves every caller: read-only
        a.input_tokens[0] = 1
    # the file changed (size and modification time): read again
    p.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:40.5,374,44\n"
                 "2023-11-16 18:15:41.5,100,20\n2023-11-16 18:15:42.5,7,3\n")
    os.utime(p, ns=(1, 1))
    b = read_trace(str(p))
    assert b is not a and b.input_tokens.tolist() == [374, 100, 7]


def test_a_trace_that_is_a_directory_or_an_empty_file_is_named_as_such(tmp_path):
    # fresh27 #8d: both said "unknown trace format (expected an Azure .csv or a Mooncake .jsonl)"
    folder = tmp_path / "traces"
    folder.mkdir()
    (folder / "conv.jsonl").write_text('{"timestamp": 0, "input_length": 5, "output_length": 2}\n')
    with pytest.raises(ConfigError) as err:
        read_trace(str(folder))
    assert err.value.key == "workload.trace"
    assert "traces is a directory, not a trace file" in err.value.reason and "conv.jsonl" in err.value.reason
    for name in ("trace", "trace.jsonl"):
        (tmp_path / name).write_text("")
        with pytest.raises(ConfigError) as err:
            read_trace(str(tmp_path / name))
        assert f"{name} is empty (0 bytes)" in err.value.reason, err.value.reason


def test_a_trace_of_blank_lines_says_it_is_blank(tmp_path):
    """A file of newlines only read "expected header TIMESTAMP,ContextTokens,GeneratedTokens, got " with nothing
    after "got" (an Azure .csv) or "no requests" (a .jsonl): it says the file holds only blank lines."""
    from workloads.serving.traces import check_trace_file
    for name in ("blank.csv", "blank.jsonl"):
        (tmp_path / name).write_text("\n\n  \n")
        for check in (read_trace, check_trace_file):
            with pytest.raises(ConfigError) as err:
                check(str(tmp_path / name))
            assert err.value.key == "workload.trace"
            assert f"{name} holds only blank lines" in err.value.reason, err.value.reason
    # a blank line before the header: the reader names what it got
    (tmp_path / "late.csv").write_text("\nTIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n")
    with pytest.raises(ConfigError, match=r"late\.csv:1: expected header TIMESTAMP,ContextTokens,GeneratedTokens, "
                                          r"got a blank line"):
        read_azure(tmp_path / "late.csv")


def test_an_azure_trace_of_its_header_only_is_refused_before_it_is_read(tmp_path):
    """An Azure .csv holding its header and no request failed only when the run read it ("no requests"), so
    a sweep failed such a point at run time: check_trace_file, which run and sweep ask first, refuses it."""
    from workloads.serving.traces import check_trace_file
    (tmp_path / "header.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n\n")
    with pytest.raises(ConfigError) as err:
        check_trace_file(str(tmp_path / "header.csv"))
    assert err.value.key == "workload.trace" and "header.csv holds only its header, no requests" in err.value.reason
    (tmp_path / "one.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n")
    assert check_trace_file(str(tmp_path / "one.csv")) == tmp_path / "one.csv"     # one request is a trace


def test_a_directory_s_hint_lists_only_the_files_that_start_as_traces_do(tmp_path):
    """The hint for a directory listed every .csv in it as a trace ("it holds AzureLLMInferenceTrace_conv.csv,
    kv_logs.csv"): it lists the files that start as a trace does (an Azure header, a JSON object with a
    timestamp), and none when no file does."""
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "kv_logs.csv").write_text("step,kv_blocks\n1,2\n")
    (folder / "notes.jsonl").write_text('["not", "a", "request"]\n')
    with pytest.raises(ConfigError) as err:
        read_trace(str(folder))
    assert "is a directory, not a trace file" in err.value.reason
    assert "kv_logs" not in err.value.reason and "notes" not in err.value.reason, err.value.reason
    (folder / "conv.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n")
    (folder / "m.jsonl").write_text('{"timestamp": 0, "input_length": 5, "output_length": 2}\n')
    with pytest.raises(ConfigError) as err:
        read_trace(str(folder))
    assert "(in it, conv.csv, m.jsonl start as a trace does)" in err.value.reason, err.value.reason
    assert "kv_logs" not in err.value.reason
