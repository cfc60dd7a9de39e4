"""One client process of the queue benchmark (bench_queue.py), for easlab or Redis.

Runs in the easlab venv (``--target easlab``: the queue's HTTP protocol over one
keep-alive ``http.client`` connection, its websocket through easlab's
``QueueClient``) or in the Redis peer venv (``--target redis``: redis-py with
hiredis). Prints one JSON line: ``{"count": N, "seconds": S}``.

    QUEUE_TOKEN=T queue_load.py put --target easlab --port P --name Q --seconds 5 --size 1024
    QUEUE_TOKEN=T queue_load.py put --target easlab --port P --name SVC --echo   (a predict)
    queue_load.py drain --target redis  --port P --name S --count 20000 --commit each|auto
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import time

GROUP = "bench"


def put_easlab(args: argparse.Namespace, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
    headers = {"Authorization": args.token, "Content-Type": "application/octet-stream"}
    path = f"/api/predict/{args.name}"
    done = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline and done < args.count:
        conn.request("POST", path, body=body, headers=headers)
        answer = conn.getresponse()
        got = answer.read()
        # a queue answers the record's index; a synchronous service echoes the body
        ok = got == body if args.echo else got.isdigit()
        if answer.status != 200 or not ok:
            raise SystemExit(f"{path} answered {answer.status}: {got[:200]!r}")
        done += 1
    return done


def put_redis(args: argparse.Namespace, body: bytes) -> int:
    import redis

    client = redis.Redis(port=args.port)
    done = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline and done < args.count:
        client.xadd(args.name, {"data": body})  # acknowledged once Redis has written it
        done += 1
    return done


def drain_easlab(args: argparse.Namespace) -> int:
    from easlab.client.queue import QueueClient

    queue = QueueClient(f"http://127.0.0.1:{args.port}", args.name)
    queue.set_token(args.token)
    queue.init(gid=GROUP)
    auto = args.commit == "auto"
    watcher = queue.watch(0, args.window, auto_commit=auto)
    seen = 0
    for frame in watcher.run():
        if not auto:
            queue.commit(frame.index)
        seen += 1
        if seen >= args.count:
            break
    watcher.close()
    return seen


def drain_redis(args: argparse.Namespace) -> int:
    import redis

    client = redis.Redis(port=args.port)
    try:
        client.xgroup_create(args.name, GROUP, id="0")
    except redis.ResponseError:
        pass  # the group exists
    auto = args.commit == "auto"
    seen = 0
    while seen < args.count:
        got = client.xreadgroup(
            GROUP, "c1", {args.name: ">"}, count=args.window, block=5000, noack=auto
        )
        if not got:
            break
        for _stream, entries in got:
            for entry_id, _fields in entries:
                if not auto:
                    client.xack(args.name, GROUP, entry_id)
                seen += 1
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("put", "drain"))
    parser.add_argument("--target", choices=("easlab", "redis"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--count", type=int, default=10**9, help="stop after this many")
    parser.add_argument(
        "--echo", action="store_true", help="put to a service: expect the body back"
    )
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--commit", choices=("each", "auto"), default="each")
    args = parser.parse_args()
    args.token = os.environ.get("QUEUE_TOKEN", "")  # not in argv, where ps shows it
    started = time.monotonic()
    if args.mode == "put":
        body = b"q" * args.size
        count = (put_easlab if args.target == "easlab" else put_redis)(args, body)
    else:
        count = (drain_easlab if args.target == "easlab" else drain_redis)(args)
    print(json.dumps({"count": count, "seconds": time.monotonic() - started}), flush=True)


if __name__ == "__main__":
    main()
