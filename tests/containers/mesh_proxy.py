"""Stands in for the swarm's routing mesh where the kernel has no IPVS (the test machines): every connection to this
port goes to one live replica of a service, found in its tasks.<service> DNS name, as the mesh hands each connection
to a running task.

    python3 mesh_proxy.py tasks.namenode 8180 8180        # name, the replicas' port, the port to listen on
"""

import asyncio
import random
import socket
import sys

CONNECT_TIMEOUT = 2.0


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def upstream(name, port):
    """A connection to a replica that accepts one (a task that died is skipped, as the mesh drops it)."""
    infos = await asyncio.get_running_loop().getaddrinfo(name, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
    addresses = list({info[4][0] for info in infos})
    random.shuffle(addresses)
    for address in addresses:
        try:
            return await asyncio.wait_for(asyncio.open_connection(address, port), CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            continue
    raise OSError(f"no replica of {name} accepts connections")


async def main(name, port, listen):
    async def handle(client_reader, client_writer):
        try:
            reader, writer = await upstream(name, port)
        except OSError as e:
            print(e, flush=True)
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, writer), pipe(reader, client_writer))

    server = await asyncio.start_server(handle, "0.0.0.0", listen)
    print(f"forwarding :{listen} to {name}:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
