"""Image import: ds cp of a qcow2 against ``qemu-img convert`` of the same file to the same kind of device.

The image is made the way real ones are: a raw file of ``size`` bytes whose 1 MiB blocks
are, in a fixed pseudo-random pattern, full of random data (45 %), partly filled (15 %)
or never written (40 %, holes), converted to qcow2 by qemu-img. The baseline writes it with
``qemu-img convert -n -f qcow2 -O raw`` onto a fresh emulator volume attached to the
front-end — the device path ds cp itself writes to. ds cp runs as oned runs it, once
with an empty BRIDGE_LIST (the front-end converts onto the device: the same work as the
baseline plus the action's own steps) and once through a bridge host (the qcow2 is first
copied into a temporary directory on the bridge, because qemu-img needs random access).
Rounds alternate baseline and ds cp; each imported volume is hashed and compared with the
raw source, so the ratio is between runs that wrote the same bytes.

``measure_http`` (``python -m bench.image_import --http``) imports the same kind of image over
http from a local server, as raw, gzip-compressed raw and gzip-compressed qcow2, through
the front-end and through a bridge, and reports MiB/s of virtual size and the peak disk use
of STAGING_DIR (sampled every 10 ms) while each import runs.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List

from bench.cluster import FRONT_END_CLIENT, MIB, Cluster
from bench.timing import BenchError

FIRST_IMAGE = 70000
#: The image that shows ds cp's fixed cost: the same steps around an almost empty copy.
TINY = MIB


@dataclass(frozen=True)
class ImportResult:
    size: int  # virtual size in bytes
    data_bytes: int  # bytes of the raw source that are not holes
    qcow2_bytes: int
    baseline: List[float]  # seconds per qemu-img convert
    front_end: List[float]  # seconds per ds cp without bridge
    bridge: List[float]  # seconds per ds cp through bridge node1/node2
    tiny_baseline: List[float]  # the same, for a 1 MiB image
    tiny_front_end: List[float]

    @staticmethod
    def mib_per_s(size: int, seconds: List[float]) -> float:
        return size / MIB / statistics.median(seconds)

    @property
    def ratio(self) -> float:
        """ds cp throughput / baseline throughput (front-end worker, medians)."""
        return statistics.median(self.baseline) / statistics.median(self.front_end)

    @property
    def bridge_ratio(self) -> float:
        return statistics.median(self.baseline) / statistics.median(self.bridge)

    @property
    def fixed_cost(self) -> float:
        """Seconds ds cp adds around the conversion itself (from the 1 MiB image)."""
        return statistics.median(self.tiny_front_end) - statistics.median(self.tiny_baseline)

    def ratio_at(self, bytes_per_second: float) -> float:
        """The ratio if the copy ran at ``bytes_per_second`` (this image's data bytes) and the fixed cost stayed."""
        copy = self.data_bytes / bytes_per_second
        return copy / (copy + self.fixed_cost)


@dataclass(frozen=True)
class SourceImage:
    qcow2: Path
    data_bytes: int  # bytes of the raw image that are not holes
    digest: str  # sha256 of the raw image (what every import must write)


def make_image(folder: Path, size: int) -> SourceImage:
    """The qcow2 to import; the raw file it was made from is removed again."""
    folder.mkdir(parents=True, exist_ok=True)
    raw, qcow2 = folder / "import.raw", folder / "import.qcow2"
    written = write_pattern(raw, size)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True,
                   capture_output=True)
    digest = _digest(raw, size)
    raw.unlink()
    return SourceImage(qcow2, written, digest)


def write_pattern(raw: Path, size: int) -> int:
    """The raw image of the module docstring; returns its bytes that are not holes."""
    pattern = random.Random(2024)
    written = 0
    with open(raw, "wb") as handle:
        handle.truncate(size)
        for block in range(size // MIB):
            kind = pattern.random()
            if kind < 0.45:
                handle.seek(block * MIB)
                handle.write(os.urandom(MIB))
                written += MIB
            elif kind < 0.60:
                handle.seek(block * MIB)
                handle.write(os.urandom(64 * 1024) + bytes(128 * 1024) + b"\x5a" * (64 * 1024))
                written += 256 * 1024
    return written


def _digest(path: Path, length: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(4 * MIB, remaining))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def _volume_digest(cluster: Cluster, name: str, size: int) -> str:
    s = cluster.stack
    s.sp.attach(name, 16)
    try:
        return _digest(s.dev_dir / name, size)
    finally:
        s.sp.detach(name, 16, force=True)


def _remove(cluster: Cluster, name: str) -> None:
    cluster.stack.sp.detach(name, "all", force=True)
    cluster.stack.sp.volume_delete(name)


def baseline(cluster: Cluster, qcow2: Path, size: int, name: str) -> float:
    s = cluster.stack
    s.sp.volume_create(name, size=-(-size // MIB) * MIB, template="one-ds-100", tags={"virt": "one", "nloc": "one"})
    s.sp.attach(name, FRONT_END_CLIENT)
    os.sync()  # earlier rounds' dirty pages are written back now, not during the timed copy
    started = time.perf_counter()
    subprocess.run(["qemu-img", "convert", "-n", "-f", "qcow2", "-O", "raw", str(qcow2), str(s.dev_dir / name)],
                   check=True, capture_output=True)
    seconds = time.perf_counter() - started
    s.sp.detach(name, FRONT_END_CLIENT)
    return seconds


def ds_cp(cluster: Cluster, qcow2: Path, image: int, bridge: bool) -> float:
    s = cluster.stack
    template = {"SAFE_DIRS": str(qcow2.parent)}
    if not bridge:
        template["BRIDGE_LIST"] = ""
    ds = s.put_datastore(100, template=template)
    xml = s.b.image_xml(image, source="", path=str(qcow2), format="qcow2", state=4, size=2048)
    s.oned.put("image", xml)
    env = dict(cluster.env, **({} if bridge else cluster.front_end_env))
    os.sync()
    started = time.perf_counter()
    result = s.ds("cp", str(image), stdin=s.ds_action(ds, xml), env=env, timeout=1200)
    seconds = time.perf_counter() - started
    if not result.ok:
        raise BenchError("ds cp of %s failed: %s" % (qcow2.name, (result.error_lines or [result.stderr])[0]))
    return seconds


def import_round(cluster: Cluster, source: SourceImage, size: int, image: int, times: Dict[str, List[float]],
                 bridge: bool = True) -> None:
    """One baseline copy and one ds cp per worker kind; each result read back and compared with the source."""
    name = "bench-baseline-%d" % image
    times["baseline"].append(baseline(cluster, source.qcow2, size, name))
    written = {name: _volume_digest(cluster, name, size)}
    _remove(cluster, name)
    for key, via_bridge in (("front_end", False), ("bridge", True)):
        if via_bridge and not bridge:
            continue
        target = image + 1 + via_bridge
        times[key].append(ds_cp(cluster, source.qcow2, target, via_bridge))
        written["one-img-%d" % target] = _volume_digest(cluster, "one-img-%d" % target, size)
        _remove(cluster, "one-img-%d" % target)
    wrong = sorted(volume for volume, digest in written.items() if digest != source.digest)
    if wrong:
        raise BenchError("%s do(es) not hold the bytes of %s" % (", ".join(wrong), source.qcow2.name))


def measure(root: Path, size: int, rounds: int, progress: Callable[[str], None]) -> ImportResult:
    cluster = Cluster(root, volumes=0, label="import")
    folder = root / "import"
    folder.mkdir()
    try:
        started = time.perf_counter()
        made = make_image(folder, size)
        tiny = make_image(folder / "tiny", TINY)
        progress("import: %d MiB qcow2 (%d MiB of data, %d MiB file) made in %.1f s"
                 % (size // MIB, made.data_bytes // MIB, made.qcow2.stat().st_size // MIB,
                    time.perf_counter() - started))
        times: Dict[str, List[float]] = {"baseline": [], "front_end": [], "bridge": []}
        fixed: Dict[str, List[float]] = {"baseline": [], "front_end": []}
        for r in range(rounds):
            import_round(cluster, made, size, FIRST_IMAGE + 10 * r, times)
            import_round(cluster, tiny, TINY, FIRST_IMAGE + 10 * r + 5, fixed, bridge=False)
            progress("import round %d: qemu-img %.2f s, ds cp %.2f s, ds cp via bridge %.2f s; %d MiB image: "
                     "qemu-img %.3f s, ds cp %.3f s" % (r + 1, times["baseline"][-1], times["front_end"][-1],
                                                        times["bridge"][-1], TINY // MIB, fixed["baseline"][-1],
                                                        fixed["front_end"][-1]))
        return ImportResult(size, made.data_bytes, made.qcow2.stat().st_size, times["baseline"], times["front_end"],
                            times["bridge"], fixed["baseline"], fixed["front_end"])
    finally:
        cluster.close()
        shutil.rmtree(folder, ignore_errors=True)


# -- imports over http ---------------------------------------------------------------------------
@dataclass(frozen=True)
class HttpResult:
    name: str  # file served
    bridge: bool
    seconds: List[float]
    peak_staging: List[int]  # bytes on disk under STAGING_DIR, highest sample of each run


def _disk_use(folder: Path) -> int:
    used = 0
    for top, _, files in os.walk(folder):
        for name in files:
            try:
                used += os.lstat(os.path.join(top, name)).st_blocks * 512
            except OSError:
                continue
    return used


def http_import(cluster: Cluster, url: str, image: int, size: int, bridge: bool) -> "tuple[float, int]":
    """Seconds of one ds cp of ``url`` and the peak disk use of STAGING_DIR meanwhile."""
    import threading

    s = cluster.stack
    template = {} if bridge else {"BRIDGE_LIST": ""}
    ds = s.put_datastore(100, template=template)
    xml = s.b.image_xml(image, source="", path=url, state=4, size=-(-size // MIB))
    s.oned.put("image", xml)
    env = dict(cluster.env, **({} if bridge else cluster.front_end_env))
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], _disk_use(cluster.staging))

    watcher = threading.Thread(target=sample, daemon=True)
    os.sync()
    watcher.start()
    started = time.perf_counter()
    try:
        result = s.ds("cp", str(image), stdin=s.ds_action(ds, xml), env=env, timeout=1200)
    finally:
        seconds = time.perf_counter() - started
        done.set()
        watcher.join()
    if not result.ok:
        raise BenchError("ds cp of %s failed: %s" % (url, (result.error_lines or [result.stderr])[0]))
    return seconds, peak[0]


def measure_http(root: Path, size: int, rounds: int, progress: Callable[[str], None]) -> List[HttpResult]:
    import functools
    import gzip
    import http.server

    cluster = Cluster(root, volumes=0, label="import over http")
    folder = root / "http"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        raw = folder / "import.raw"
        write_pattern(raw, size)
        digest = _digest(raw, size)
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(folder / "import.qcow2")],
                       check=True, capture_output=True)
        for name in ("import.raw", "import.qcow2"):
            with open(folder / name, "rb") as source, gzip.open(folder / (name + ".gz"), "wb", compresslevel=1) as out:
                shutil.copyfileobj(source, out, 4 * MIB)
        (folder / "import.qcow2").unlink()
        base = "http://127.0.0.1:%d/" % server.server_address[1]
        results = []
        image = FIRST_IMAGE
        for name in ("import.raw", "import.raw.gz", "import.qcow2.gz"):
            for bridge in (False, True):
                seconds, peaks = [], []
                for _ in range(rounds):
                    image += 1
                    took, peak = http_import(cluster, base + name, image, size, bridge)
                    volume = "one-img-%d" % image
                    if _volume_digest(cluster, volume, size) != digest:
                        raise BenchError("%s does not hold the bytes of %s" % (volume, name))
                    _remove(cluster, volume)
                    seconds.append(took)
                    peaks.append(peak)
                result = HttpResult(name, bridge, seconds, peaks)
                results.append(result)
                progress("http %-16s %-9s %7.1f MiB/s  peak staging %6.1f MiB  (%s)"
                         % (name, "bridge" if bridge else "front-end", ImportResult.mib_per_s(size, seconds),
                            max(peaks) / MIB, ", ".join("%.2f s" % t for t in seconds)))
        return results
    finally:
        server.shutdown()
        server.server_close()
        cluster.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    import argparse
    import sys
    import tempfile

    parser = argparse.ArgumentParser(description="ds cp over http: MiB/s and peak STAGING_DIR use")
    parser.add_argument("--http", action="store_true", required=True, help="import over http (the only mode here)")
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onesp-bench-http-") as directory:
        measure_http(Path(directory), options.size_mib * MIB, options.rounds, lambda line: print(line, flush=True))
    sys.exit(0)
