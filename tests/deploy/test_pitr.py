"""The point-in-time recovery drill of docs/deploy.md, on a throwaway cluster: a base
backup and a WAL archive, rows written, a time noted, more writes (and a delete),
then a restore to that time holds exactly the first rows."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.deploy.clusters import (
    PG_BIN,
    Cluster,
    as_postgres,
    cluster,
    needs_pg_bin,
    once_per_run,
    pg,
    workdir,
)

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "bin" / "pitr-restore.sh"
pytestmark = [needs_pg_bin(), once_per_run()]


def archived(primary: Cluster) -> None:
    """Switch to a new WAL file and wait until the archiver has copied the last one."""
    ((segment,),) = primary.query("SELECT pg_walfile_name(pg_switch_wal())")
    for _ in range(300):
        ((last,),) = primary.query("SELECT last_archived_wal FROM pg_stat_archiver")
        if last is not None and str(last) >= str(segment):
            return
        time.sleep(0.05)
    raise TimeoutError(f"WAL {segment} was not archived")


def restore(base: Path, archive: Path, *, port: int, target_time: str) -> Cluster:
    """deploy/bin/pitr-restore.sh, as an operator runs it (as the postgres user)."""
    data = base.parent / "restored"
    done = subprocess.run(
        [*as_postgres(), str(SCRIPT), str(base), str(archive), str(data), str(port), target_time],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PG_BIN": str(PG_BIN)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    assert "promoted" in done.stdout
    return Cluster(data, port)


def test_a_restore_to_a_noted_time_holds_exactly_the_rows_written_before_it() -> None:
    archive = workdir("swabline-wal-")
    backups = workdir("swabline-base-")
    base = backups / "base"
    config = (
        "archive_mode = on",
        f"archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f'",
    )
    try:
        with cluster(55446, *config) as primary:
            primary.query("CREATE TABLE drill (id int PRIMARY KEY, note text NOT NULL)")
            pg("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
               "-D", str(base), "-X", "stream", "--checkpoint=fast", "--no-sync")  # fmt: skip
            primary.query("INSERT INTO drill SELECT g, 'before' FROM generate_series(1, 5) g")
            ((noted,),) = primary.query("SELECT clock_timestamp()::text")
            time.sleep(0.2)  # commits after the noted time carry a later timestamp
            primary.query("INSERT INTO drill SELECT g, 'after' FROM generate_series(6, 9) g")
            primary.query("DELETE FROM drill WHERE id = 1")
            assert primary.query("SELECT count(*) FROM drill") == [(8,)]
            archived(primary)
        # The primary is gone; the base backup and the archive are all that is left.
        restored = restore(base, archive, port=55447, target_time=str(noted))
        try:
            rows = restored.query("SELECT id, note FROM drill ORDER BY id")
            assert base.exists(), "the base backup is left as it was"
            assert rows == [(i, "before") for i in range(1, 6)]
            restored.query("INSERT INTO drill VALUES (100, 'writable after promotion')")
        finally:
            restored.stop("immediate")
    finally:
        shutil.rmtree(archive, ignore_errors=True)
        shutil.rmtree(backups, ignore_errors=True)
