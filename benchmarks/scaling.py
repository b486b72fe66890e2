"""How the KPI suite's throughput scales with rayon threads and with Dask workers.

    python benchmarks/scaling.py --orders 5_000_000 --responses 5_000_000 \\
        --threads 1,2,4,8,16 --dask-workers 1,2

Prints, for each thread count, the best of ``--repeat`` runs of the suite
(NPS/CSAT/CES on responses; OTIF, accuracy, self-service, revenue, repeat
purchase on orders; per rep_id and quarter) as seconds, million rows per second
and speed-up over one thread; then the same suite through ``kpiforge.dask`` on a
``distributed.LocalCluster`` with 1, 2, ... single-threaded worker processes.
Thread counts above the machine's cores are reported but oversubscribed.
"""

from __future__ import annotations

import argparse
import os
import time

import kpiforge as kf

AS_OF = "2026-11-14"
SURVEY = ["nps", "csat", "ces"]
ORDERS = ["otif", "order_accuracy", "self_service_adoption", "revenue", "repeat_purchase_rate"]


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x]


def suite(data: kf.demo.DemoData, threads: int | None) -> None:
    kf.compute(
        data.responses, SURVEY, by="rep_id", period="quarter", threads=threads, output="arrow"
    )
    kf.compute(
        data.orders,
        ORDERS,
        by="rep_id",
        period="quarter",
        as_of=AS_OF,
        threads=threads,
        output="arrow",
    )


def best(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=lambda s: int(s.replace("_", "")), default=2_000_000)
    parser.add_argument("--responses", type=lambda s: int(s.replace("_", "")), default=2_000_000)
    parser.add_argument("--threads", type=_ints, default=[1, 2, 4, 8, 16])
    parser.add_argument("--dask-workers", type=_ints, default=[1, 2])
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    data = kf.demo.generate(
        n_orders=args.orders, n_responses=args.responses, tables=["orders", "responses"]
    )
    rows = data.orders.num_rows + data.responses.num_rows
    print(
        f"{rows:,} rows ({data.orders.num_rows:,} orders, {data.responses.num_rows:,} "
        f"responses) on {os.cpu_count()} cores; best of {args.repeat}"
    )
    print(f"{'threads':>8}{'seconds':>10}{'Mrows/s':>10}{'speed-up':>10}")
    base = None
    for n in args.threads:
        t = best(args.repeat, lambda n=n: suite(data, n))
        base = base or t
        print(f"{n:>8}{t:>10.3f}{rows / t / 1e6:>10.1f}{base / t:>10.2f}")

    if not args.dask_workers:
        return
    try:
        import dask.dataframe as dd
        import distributed
    except ImportError:
        print("dask/distributed not installed: skipping the Dask part")
        return
    import tempfile

    import pyarrow.parquet as pq

    import kpiforge.dask

    # Dask reads Parquet files, one partition per file, as it would in production.
    tmp = tempfile.mkdtemp(prefix="kpiforge-scaling-")
    frames = {}
    for name, table in (("responses", data.responses), ("orders", data.orders)):
        os.makedirs(f"{tmp}/{name}")
        step = -(-table.num_rows // args.partitions)
        for i in range(args.partitions):
            pq.write_table(table.slice(i * step, step), f"{tmp}/{name}/part-{i:03}.parquet")
        frames[name] = dd.read_parquet(f"{tmp}/{name}")
    responses, orders = frames["responses"], frames["orders"]
    print(
        f"\n{'workers':>8}{'seconds':>10}{'Mrows/s':>10}{'speed-up':>10}"
        f"   (dask.distributed, {args.partitions} partitions, 1 thread each)"
    )
    base = None
    for n in args.dask_workers:
        with (
            distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            distributed.Client(cluster),
        ):

            def run(r=responses, o=orders) -> None:  # type: ignore[no-untyped-def]
                kpiforge.dask.compute(r, SURVEY, by="rep_id", period="quarter")
                kpiforge.dask.compute(o, ORDERS, by="rep_id", period="quarter", as_of=AS_OF)

            t = best(args.repeat, run)
            base = base or t
            print(f"{n:>8}{t:>10.3f}{rows / t / 1e6:>10.1f}{base / t:>10.2f}")


if __name__ == "__main__":
    main()
