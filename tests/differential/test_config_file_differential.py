"""redis.conf files read by slotraft (`--config` of nodes, routers and `slotraft up`) as
redis-server 7.0.15 reads them: the same file starts a real redis-server, and what it
refuses (the line, the reason) or the values it holds are compared with ours."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import redis

from proto.redis_config import ConfigFileError, parse_config_text
from slotraft.local_cluster import free_port
from tests.support.processes import stop_process, wait_for_port

CASES = [
    "maxmemory 100mb",
    "maxmemory 100MB\nmaxmemory-policy allkeys-lru",
    "maxmemory 1g",
    "maxmemory 2GB",
    "maxmemory 512kb",
    "maxmemory 1000k",
    "maxmemory 100xb",
    "maxmemory -5",
    "maxmemory 1.5gb",
    "maxmemory 1 2",
    'maxmemory "100mb',
    'maxmemory "100mb"',
    "maxmemory '100mb'",
    'maxmemory "100"mb',
    "MAXMEMORY 5mb",
    "foo bar",
    "# a comment\n\n   maxmemory 7mb   \n",
    'notify-keyspace-events "KEA"',
    "notify-keyspace-events X",
    'notify-keyspace-events ""',
    "save 3600 1 300 100",
    "save 3600 1\nsave 300 100",
    'save ""',
    "save 1 2 3",
    "client-output-buffer-limit normal 1mb 2mb 60",
    "client-output-buffer-limit pubsub 64mb 16mb 90\nclient-output-buffer-limit normal 0 0 0",
    "client-output-buffer-limit foo 1 2 3",
    "latency-tracking-info-percentiles 50 99 99.9 100",
    "latency-tracking-info-percentiles 50 200",
    "timeout 300\nprotected-mode no",
    "protected-mode maybe",
    "hash-max-ziplist-entries 64\nhash-max-listpack-value 1kb",
    'proc-title-template "a\\x41\\tb"',
    "proc-title-template 'it''s'",
    "proc-title-template 'it\\'s'",
    "slowlog-log-slower-than -1\nslowlog-max-len 1000",
    "slowlog-log-slower-than -2",
    "maxclients 0",
    "lua-time-limit 100",
]


def redis_reads(text: str) -> dict[str, str] | str:
    """What redis-server makes of a config file: the values it holds (CONFIG GET of every
    parameter), or the end of its refusal (line, text, reason)."""
    workdir = Path(tempfile.mkdtemp(prefix="slotraft-conf-"))
    port = free_port()
    path = workdir / "redis.conf"
    # Ours last: the file's line numbers stay as written.
    path.write_text(f"{text}\nport {port}\nbind 127.0.0.1\ndir {workdir}\n")
    binary = shutil.which("redis-server")
    assert binary is not None
    process = subprocess.Popen(
        [binary, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=os.setsid,
        text=True,
    )
    try:
        try:
            wait_for_port(port, process=process)
        except RuntimeError:
            _, stderr = process.communicate(timeout=10)
            return "\n".join(stderr.strip().splitlines()[-3:])
        found = redis.Redis(port=port, decode_responses=True).config_get("*")
        return {str(name): str(value) for name, value in found.items()}
    finally:
        stop_process(process)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("text", CASES)
def test_a_config_file_reads_as_redis_reads_it(text):
    expected = redis_reads(text)
    try:
        ours = {d.parameter.name: d.value for d in parse_config_text(text)}
    except ConfigFileError as error:
        assert isinstance(expected, str), f"redis took it: {text!r}"
        assert "\n".join(str(error).splitlines()[-3:]) == expected
        return
    assert isinstance(expected, dict), f"redis refused it: {expected}"
    for name, value in ours.items():
        assert expected[name] == value, name
