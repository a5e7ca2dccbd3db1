"""Vendor front-end files from the npm registry into static/vendor (no CDN at run time).

Reads scripts/vendor.txt; for each package@version runs `npm pack`, unpacks the
tarball and copies the named files. The result is committed, so a site without
network still has every script. Re-run after changing a version.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "scripts" / "vendor.txt"
DEST = ROOT / "static" / "vendor"


def main() -> None:
    entries = [
        line.split()
        for line in LIST.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    with tempfile.TemporaryDirectory() as tmp:
        unpacked: dict[str, Path] = {}
        for spec, source, target in entries:
            if spec not in unpacked:
                out = (
                    subprocess.run(
                        ["npm", "pack", spec, "--silent", "--pack-destination", tmp],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    .stdout.strip()
                    .splitlines()[-1]
                )
                folder = Path(tmp) / spec.replace("/", "_")
                with tarfile.open(Path(tmp) / out) as tar:
                    tar.extractall(folder, filter="data")
                unpacked[spec] = folder / "package"
            target_path = DEST / target
            target_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(unpacked[spec] / source, target_path)
            print(f"{spec}: {source} -> static/vendor/{target}")
    versions = sorted({spec for spec, _, _ in entries})
    (DEST / "VERSIONS.txt").write_text("\n".join(versions) + "\n")


if __name__ == "__main__":
    main()
