#!/usr/bin/env python3
"""Beat lovebeat from Python with the stock statsd client.

    pip install statsd
    beat.py backup.nightly --err 3600

lovebeat speaks the statsd line protocol, so any statsd client works: a
counter on NAME.beat is a beat, NAME.autobeat an autobeat, NAME.fail a
failure report, and a gauge on NAME.warn / NAME.err sets a timeout in
seconds (-1 clears, -2 means auto).

One catch: for a negative gauge the statsd package first sends the gauge
as 0 and then the value (statsd's way to set a negative gauge), and 0 means
"always late" to lovebeat. So negative timeouts are sent with delta=True,
which sends the bare value.
"""

import argparse
import os

import statsd


def timeout(client, name, value):
    if value < 0:
        client.gauge(name, value, delta=True)
    else:
        client.gauge(name, value)


def main():
    parser = argparse.ArgumentParser(description="Beat a lovebeat service.")
    parser.add_argument("name", help="the service, e.g. backup.nightly")
    parser.add_argument("--host", default=os.environ.get("LOVEBEAT_HOST", "localhost"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("LOVEBEAT_PORT", "8127"))
    )
    parser.add_argument("--warn", type=int, help="warning timeout, seconds")
    parser.add_argument("--err", type=int, help="error timeout, seconds")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--auto", action="store_true", help="autobeat: learn the interval")
    what.add_argument("--fail", action="store_true", help="report a failure")
    args = parser.parse_args()

    client = statsd.StatsClient(args.host, args.port)
    # A pipeline sends everything in one datagram, applied in order.
    with client.pipeline() as pipe:
        if args.warn is not None:
            timeout(pipe, f"{args.name}.warn", args.warn)
        if args.err is not None:
            timeout(pipe, f"{args.name}.err", args.err)
        if args.fail:
            pipe.incr(f"{args.name}.fail")
        elif args.auto:
            pipe.incr(f"{args.name}.autobeat")
        else:
            pipe.incr(f"{args.name}.beat")


if __name__ == "__main__":
    main()
