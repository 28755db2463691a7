"""Benchmark-only hooks for the platform processes a benchmark starts (never the platform's
own code): loaded by processes started with PYTHONPATH=bench/instrument, and active only with
BENCH_QUERY_LOG_DIR set (model processes inherit it and are left alone): every new Django
database connection gets an execute wrapper that counts statements by verb and table, and a
thread writes the counts to BENCH_QUERY_LOG_DIR/<pid>.json every 0.2 s (bench/throughput.py).
"""

import os

_DIR = os.environ.get("BENCH_QUERY_LOG_DIR")


def _install() -> None:
    import json
    import sys
    import threading
    import time

    try:
        from django.db.backends.signals import connection_created
    except ImportError:  # not a platform process
        return

    import re

    counts: dict[str, int] = {}
    keys: dict[str, str] = {}
    table = re.compile(r'(?:FROM|UPDATE|INTO) "(\w+)"')
    assigned = re.compile(r'"(\w+)" = ')

    def key_of(sql: str) -> str:
        """The statement's verb and table (and the columns an UPDATE sets)."""
        verb = sql.split(None, 1)[0].upper() if sql.strip() else "?"
        match = table.search(sql)
        key = f"{verb} {match.group(1)}" if match else verb
        if verb == "UPDATE":
            columns = assigned.findall(sql.split(" SET ", 1)[-1].split(" WHERE ", 1)[0])
            key += " SET " + ", ".join(columns)
        return key

    def count(execute, sql, params, many, context):
        key = keys.get(sql)
        if key is None:
            key = keys[sql] = key_of(sql or "")
        counts[key] = counts.get(key, 0) + 1
        return execute(sql, params, many, context)

    def on_connection(sender, connection, **kwargs):
        if count not in connection.execute_wrappers:
            connection.execute_wrappers.append(count)

    connection_created.connect(on_connection, weak=False)

    def role() -> str:
        argv = " ".join(sys.argv)
        if "daphne" in argv:
            return "web (daphne)"
        if "webhooks" in argv:
            return "services worker"
        if "dramatiq" in argv or "worker" in argv:
            return "prediction worker"
        return os.path.basename(sys.argv[0] or "python")

    def dump() -> None:
        path = os.path.join(_DIR, f"{os.getpid()}.json")
        last = None
        while True:
            time.sleep(0.2)
            snapshot = dict(counts)
            if snapshot != last:
                temporary = path + ".tmp"
                with open(temporary, "w") as handle:
                    json.dump({"role": role(), "counts": snapshot}, handle)
                os.replace(temporary, path)
                last = snapshot

    def start() -> None:
        threading.Thread(target=dump, name="bench-query-counter", daemon=True).start()

    def after_fork() -> None:  # Dramatiq forks its worker processes: count theirs anew
        counts.clear()
        start()

    os.register_at_fork(after_in_child=after_fork)
    start()


if _DIR:
    _install()
