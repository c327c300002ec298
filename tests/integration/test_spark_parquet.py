"""Spark, through Hadoop's own WebHDFS client, writes a million rows as Parquet to a dfs cluster and reads them back.
Runs the python of the venv pyspark==4.1.4 was installed into (DFS_HADOOP_JARS is its pyspark/jars, which .ci/run
provides); skipped without it, except in CI (CI=true), where its absence fails."""

import getpass
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest
import requests

JARS = os.environ.get("DFS_HADOOP_JARS", "")
# <venv>/lib/python3.X/site-packages/pyspark/jars
PYSPARK_PYTHON = str(pathlib.Path(JARS).parents[4] / "bin" / "python") if JARS else ""
pytestmark = pytest.mark.skipif(not (PYSPARK_PYTHON and os.path.exists(PYSPARK_PYTHON) and shutil.which("java"))
                                and not os.environ.get("CI"),
                                reason="needs java and DFS_HADOOP_JARS inside a venv with pyspark 4.1.4")

ROWS = 1_000_000

# A small local Spark: two cores, a small heap, no UI; it writes the rows in four Parquet files, then reads the
# directory back in a new DataFrame and answers what it found as one JSON line.
JOB = """
import json, sys
from pyspark.sql import SparkSession, functions as F
url, rows = sys.argv[1], int(sys.argv[2])
spark = (SparkSession.builder.master("local[2]").appName("dfs-parquet")
         .config("spark.driver.memory", "512m").config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "2").getOrCreate())
spark.sparkContext.setLogLevel("WARN")
(spark.range(0, rows, 1, 4).withColumn("bucket", F.col("id") % 7).withColumn("label", F.format_string("row-%d", "id"))
 .write.mode("overwrite").parquet(url))
back = spark.read.parquet(url)
totals = back.agg(F.count("*").alias("rows"), F.sum("id").alias("ids"), F.sum("bucket").alias("buckets"),
                  F.countDistinct("label").alias("labels")).first()
print("RESULT " + json.dumps(totals.asDict()))
spark.stop()
"""


def test_spark_writes_and_reads_a_million_rows_of_parquet(cluster, unique_dir):
    target = f"webhdfs://{cluster.url.split('://', 1)[1]}{unique_dir}/rows.parquet"
    started = time.monotonic()
    # A loaded CI machine starts a JVM and runs Spark's stages slowly: the bound is generous, not a goal.
    done = subprocess.run([PYSPARK_PYTHON, "-c", JOB, target, str(ROWS)], capture_output=True, timeout=900,
                          env=dict(os.environ, HADOOP_USER_NAME=getpass.getuser(), PYSPARK_PYTHON=PYSPARK_PYTHON))
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-4000:]
    result = json.loads(next(line for line in done.stdout.decode().splitlines() if line.startswith("RESULT "))[7:])
    assert result == {"rows": ROWS, "ids": ROWS * (ROWS - 1) // 2, "buckets": sum(i % 7 for i in range(ROWS)),
                      "labels": ROWS}
    listing = requests.get(f"{cluster.url}/webhdfs/v1{unique_dir}/rows.parquet", params={"op": "LISTSTATUS"},
                           timeout=60).json()["FileStatuses"]["FileStatus"]
    names = sorted(entry["pathSuffix"] for entry in listing)
    assert names[0] == "_SUCCESS" and len(names) == 5 and all(name.endswith(".parquet") for name in names[1:])
    print(f"spark job: {elapsed:.1f} s", file=sys.stderr)
