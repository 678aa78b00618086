"""Trace-loader fuzz: 1,200 damaged files (flipped and inserted bytes, bytes that
are not UTF-8, truncated gzip, huge and stray values, deep JSON) either load or
fail with a :class:`TraceError` naming ``file:line:column``: never another
exception, never a traceback or click's "Aborted." from the CLI."""

from __future__ import annotations

import gzip
import random
import re
from pathlib import Path

import numpy as np
import typer
from typer.testing import CliRunner

from scaler.commands import trace as trace_cli
from scaler.traces.loader import TraceError, load_trace

FILES = 1_200
CLI_FILES = 60
LOCATED = re.compile(r":(\d+):(\d+): \S")

BASES: dict[str, str] = {
    "rate.csv": "time_s,rps,items_per_request,burst_fraction\n"
    + "".join(f"{t},{100 + t},{1 + t % 3},0.5\n" for t in range(20)),
    "requests.csv": "TIMESTAMP,ContextTokens\n"
    + "".join(f"2023-11-16 18:15:{s:02d}.123456{s % 10},{s}\n" for s in range(20)),
    "counts.csv": "time,requests\n"
    + "".join(f"1998-05-01 00:{m:02d}:00,{m * 7}\n" for m in range(20)),
    "relative.tsv": "arrival_ms\tsize\n" + "".join(f"{i * 250}\t{i % 4}\n" for i in range(20)),
    "lines.jsonl": "".join(f'{{"t": {1_700_000_000 + i}, "items": {i % 5}}}\n' for i in range(20)),
}
JUNK = [
    b"\xff\xfe",
    b"\xc3",
    b"\x80abc",
    b"\x00",
    b"1e400",
    b"-5",
    b"9" * 5000,
    b"[" * 3000,
    b'"',
    b",,,,",
    b"\n\n",
    b"#",
    b"NaN",
    b"99999999999999999",
    b"2023-13-45T99:99:99",
    b"\r",
    b"\xef\xbb\xbf",
]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 2)):
        where = rng.randrange(len(out) + 1)
        choice = rng.random()
        if choice < 0.3 and out:
            out[min(where, len(out) - 1)] = rng.randrange(256)
        elif choice < 0.7:
            out[where:where] = rng.choice(JUNK)
        elif choice < 0.85:
            del out[where : where + rng.randint(1, 30)]
        else:
            out = out[:where]
    return bytes(out)


def _fuzzed_files(folder: Path) -> list[Path]:
    rng = random.Random(20261203)
    paths = []
    for i in range(FILES):
        name, text = rng.choice(list(BASES.items()))
        data = _mutate(rng, text.encode())
        compressed = rng.random() < 0.25
        if compressed:
            data = gzip.compress(data)
            if rng.random() < 0.6:
                data = data[: rng.randrange(1, len(data))]
        path = folder / f"f{i:04d}_{name}{'.gz' if compressed else ''}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_every_fuzzed_file_loads_or_fails_naming_file_line_and_column(tmp_path: Path) -> None:
    outcomes = {"loaded": 0, "refused": 0}
    for path in _fuzzed_files(tmp_path):
        try:
            trace = load_trace(path)
        except TraceError as error:
            message = str(error)
            assert message.startswith(str(path)), message
            assert LOCATED.match(message[len(str(path)) :]), message
            outcomes["refused"] += 1
            continue
        assert np.isfinite(trace.rps).all(), path
        assert np.isfinite(trace.items).all(), path
        outcomes["loaded"] += 1

    assert sum(outcomes.values()) == FILES
    assert outcomes["loaded"] > 30 and outcomes["refused"] > 30, outcomes


def test_the_cli_answers_fuzzed_files_with_exit_0_or_2_and_no_traceback(tmp_path: Path) -> None:
    app = typer.Typer()
    trace_cli.register(app)
    runner = CliRunner()
    for path in _fuzzed_files(tmp_path)[:CLI_FILES]:
        result = runner.invoke(app, ["trace", "info", str(path)])

        assert result.exception is None or isinstance(result.exception, SystemExit), path
        assert result.exit_code in (0, 2), (path, result.output)
        assert "Traceback" not in result.output
        assert "Aborted" not in result.output
        if result.exit_code == 2:
            assert f"{path}:" in result.stderr.replace("\n", "")


def test_undecodable_bytes_are_located_on_their_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"time_s,rps\n0,1\n1,2\n# caf\xe9\n2,3\n")

    try:
        load_trace(path)
    except TraceError as error:
        assert str(error).startswith(f"{path}:4:6: not UTF-8 text (byte 0xe9)")
    else:
        raise AssertionError("expected a TraceError")


def test_truncated_gzip_is_a_located_error_not_an_abort(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv.gz"
    data = gzip.compress(b"time_s,rps\n" + b"".join(b"%d,1\n" % t for t in range(5000)))
    path.write_bytes(data[: len(data) // 2])

    try:
        load_trace(path)
    except TraceError as error:
        assert "truncated or corrupt gzip data" in str(error)
        assert LOCATED.match(str(error)[len(str(path)) :])
    else:
        raise AssertionError("expected a TraceError")
