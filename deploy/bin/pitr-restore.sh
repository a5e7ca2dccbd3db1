#!/usr/bin/env bash
# Point-in-time recovery: start a copy of a base backup as a NEW server (its own data
# directory and port) that replays the WAL archive up to TARGET_TIME, then promotes.
# The old data directory is never touched. Run as the postgres user.
# docs/deploy.md, "Backups and point-in-time recovery"; tested by
# tests/deploy/test_pitr.py on a throwaway cluster.
#
#   pitr-restore.sh BASE_BACKUP_DIR WAL_ARCHIVE_DIR NEW_DATA_DIR PORT 'TARGET_TIME'
#   e.g. pitr-restore.sh /srv/pg-backups/base-2026-11-29 /srv/pg-wal-archive \
#          /var/lib/postgresql/15/restore 5433 '2026-11-30 06:59:00+07'
set -euo pipefail
if [ $# -ne 5 ]; then
  sed -n '2,11p' "$0" >&2
  exit 64
fi
base=$1 archive=$2 data=$3 port=$4 target=$5
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
if [ -e "$data" ]; then
  echo "pitr-restore: $data exists; restore into a new directory" >&2
  exit 2
fi
[ -f "$base/PG_VERSION" ] || { echo "pitr-restore: $base is not a plain base backup" >&2; exit 2; }

cp -a "$base" "$data"
chmod 700 "$data"
rm -f "$data/postmaster.pid" "$data/standby.signal"
# The copy must not archive into the production archive, nor pretend to be a replica.
cat >> "$data/postgresql.auto.conf" <<CONF
restore_command = 'cp $archive/%f %p'
recovery_target_time = '$target'
recovery_target_action = 'promote'
archive_mode = off
primary_conninfo = ''
CONF
touch "$data/recovery.signal"

"$pg_bin/pg_ctl" -D "$data" -l "$data/restore.log" -w -t 3600 \
  -o "-p $port -k $data -c listen_addresses=127.0.0.1" start
for _ in $(seq 1 18000); do
  state=$("$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc \
    'SELECT pg_is_in_recovery()' 2>/dev/null || true)
  if [ "$state" = "f" ]; then
    echo "pitr-restore: replayed to $target and promoted on port $port"
    exit 0
  fi
  sleep 0.2
done
echo "pitr-restore: still recovering; see $data/restore.log" >&2
exit 1
