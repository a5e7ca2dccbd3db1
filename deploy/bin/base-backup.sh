#!/usr/bin/env bash
# Nightly base backup of the primary (plain format, WAL included, checksummed by a
# manifest), kept KEEP_BASES nights; WAL files older than the oldest kept base are
# removed from the archive. Run as postgres (swabline-basebackup.timer).
# Restore: deploy/bin/pitr-restore.sh (docs/deploy.md).
set -euo pipefail
backups=${BACKUP_DIR:-/srv/pg-backups}
archive=${WAL_ARCHIVE_DIR:-/srv/pg-wal-archive}
keep=${KEEP_BASES:-7}
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
stamp=$(date -u +%Y%m%dT%H%M%SZ)

"$pg_bin/pg_basebackup" -h "${PGHOST:-/var/run/postgresql}" -U "${PGUSER:-postgres}" \
  -D "$backups/base-$stamp.partial" -X stream --checkpoint=fast --manifest-checksums=SHA256
"$pg_bin/pg_verifybackup" "$backups/base-$stamp.partial"
mv "$backups/base-$stamp.partial" "$backups/base-$stamp"

# Keep the newest $keep bases; drop WAL the oldest kept base no longer needs.
mapfile -t bases < <(ls -1d "$backups"/base-*Z | sort)
for old in "${bases[@]:0:$(( ${#bases[@]} > keep ? ${#bases[@]} - keep : 0 ))}"; do
  rm -rf -- "$old"
done
oldest=$(ls -1d "$backups"/base-*Z | sort | head -n 1)
first_wal=$(grep -m1 '^START WAL LOCATION' "$oldest/backup_label" | sed -E 's/.*\(file ([0-9A-F]+)\).*/\1/')
[ -n "$first_wal" ] && "$pg_bin/pg_archivecleanup" "$archive" "$first_wal"
echo "base-backup: $backups/base-$stamp"
