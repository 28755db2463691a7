"""The first process inside a model sandbox: it carries the few connections that must cross
the sandbox's boundary, then runs the command it was given and exits with its status.

The sandbox has a network namespace of its own, so its 127.0.0.1 is not the worker's. This
relay (standard library only: it runs with the model environment's Python) joins them:
- `--listen FD=PORT`: connections the worker makes to the unix socket it passed in as file
  descriptor FD are carried to 127.0.0.1:PORT inside (Cog's HTTP server);
- `--forward PORT=PATH`: connections made inside to 127.0.0.1:PORT are carried to the unix
  socket PATH, which the worker serves (its file server; the egress proxy).
"""

import asyncio
import os
import socket
import sys

CHUNK = 1 << 16


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            writer.close()


async def _join(client_reader, client_writer, open_target) -> None:
    try:
        target_reader, target_writer = await open_target()
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(_pipe(client_reader, target_writer), _pipe(target_reader, client_writer))
    for writer in (client_writer, target_writer):
        writer.close()


def _arguments(argv: list[str]) -> tuple[list[tuple[int, int]], list[tuple[int, str]], list[str]]:
    listens, forwards = [], []
    while argv and argv[0] != "--":
        flag, value = argv[0], argv[1]
        argv = argv[2:]
        left, right = value.split("=", 1)
        if flag == "--listen":
            listens.append((int(left), int(right)))
        elif flag == "--forward":
            forwards.append((int(left), right))
        else:
            raise SystemExit(f"sandbox_relay: unknown option {flag}")
    return listens, forwards, argv[1:]


async def main(argv: list[str]) -> int:
    listens, forwards, command = _arguments(argv)
    servers = []
    for fd, port in listens:
        listener = socket.socket(fileno=fd)
        listener.setblocking(False)

        def to_port(port=port):
            return asyncio.open_connection("127.0.0.1", port)

        servers.append(
            await asyncio.start_unix_server(
                lambda r, w, target=to_port: _join(r, w, target), sock=listener
            )
        )
    for port, path in forwards:

        def to_path(path=path):
            return asyncio.open_unix_connection(path)

        servers.append(
            await asyncio.start_server(
                lambda r, w, target=to_path: _join(r, w, target), "127.0.0.1", port
            )
        )
    child = await asyncio.create_subprocess_exec(*command, pass_fds=())
    return await child.wait()


if __name__ == "__main__":
    code = asyncio.run(main(sys.argv[1:]))
    sys.stdout.flush()
    os._exit(code if code >= 0 else 128 - code)
