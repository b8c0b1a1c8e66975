"""Apache Kafka (KRaft) on loopback from Maven Central jars: no Docker, no tarball.

The jars come from `mvn dependency:copy-dependencies` over this folder's pom
into `.cache/kafka/libs` (once; a marker records the pom they came from). Each
node is a combined broker+controller JVM on free loopback ports, with its
config, data, log and pid file under `<state-dir>/node-<id>/` and the cluster
layout in `<state-dir>/state.json`, so a later invocation can stop what an
earlier one started.

CLI::

    python compose/kafka-local/kafkalocal.py up [--nodes 1|3] [--state-dir DIR]
    python compose/kafka-local/kafkalocal.py down | status | fetch
    python compose/kafka-local/kafkalocal.py kill|stop|restart NODE_ID

`up` prints the bootstrap address once every node answers a metadata request;
with `KAFKA_BOOTSTRAP_SERVERS` set it starts nothing and prints that instead.
Importable as `kafkalocal` (tests put this folder on sys.path): `LocalKafka`;
the pure layout and config are in `kafkaconf`, processes and readiness in
`kafkaproc`. Standard library only, so it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from kafkaconf import (
    HOST,
    ClusterState,
    KafkaLocalError,
    Node,
    new_cluster_id,
    server_properties,
    state_from_json,
    state_to_json,
)
from kafkaproc import free_ports, is_running, log_tail, metadata_broker_ids, spawn, tail, terminate

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
CACHE = REPO_ROOT / ".cache" / "kafka"
LIBS = CACHE / "libs"
DEFAULT_STATE_DIR = CACHE / "run"
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0

# Small-footprint JVM: the machine has two cores shared by everything else.
JVM_OPTS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:CICompilerCount=2",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
# `StorageTool format` lives for a second: the C1 compiler alone starts fastest.
TOOL_JVM_OPTS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")

_MARKER = ".complete"
# Class-data-sharing archives, one per kind of JVM: they halve the CPU a JVM spends
# starting, which is most of a broker's start-up on a busy two-core machine.
_ARCHIVE_KINDS = ("tool", "broker")


# --- jars -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_jars(libs: Path = LIBS, pom: Path = POM) -> Path:
    """The broker's classpath folder, fetched with Maven unless it already matches `pom`.

    Concurrent callers serialise on a lock file; the jars are copied into a
    fresh folder that replaces `libs` only once Maven succeeded.
    """
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    marker = libs / _MARKER
    if marker.is_file() and marker.read_text().strip() == digest:
        return libs
    with _file_lock(libs.parent / "libs.lock"):
        if marker.is_file() and marker.read_text().strip() == digest:
            return libs
        partial = libs.parent / f"libs.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        cmd = [
            "mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}", "-DincludeScope=runtime",
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            output = (done.stdout + done.stderr).strip()
            raise KafkaLocalError(f"mvn failed ({done.returncode}):\n{tail(output)}")
        (partial / _MARKER).write_text(digest + "\n")
        if libs.exists():
            stale = libs.parent / f"libs.stale-{os.getpid()}"
            libs.rename(stale)
            partial.rename(libs)
            shutil.rmtree(stale, ignore_errors=True)
        else:
            partial.rename(libs)
    return libs


def class_archive_dir(libs: Path = LIBS) -> Path:
    """Where the class-data-sharing archives for these jars and this JDK live."""
    found = shutil.which("java")
    if found is None:
        raise KafkaLocalError("java not found on PATH (Java 17 or newer is needed)")
    java = Path(found).resolve()
    # An archive only fits the exact jars and JVM build that wrote it.
    key = f"{(libs / _MARKER).read_text().strip()} {java} {java.stat().st_mtime_ns}"
    return libs.parent / "cds" / hashlib.sha256(key.encode()).hexdigest()[:16]


def ensure_class_archives(libs: Path = LIBS) -> Path:
    """Write the JVMs' class-data-sharing archives once, by starting and stopping a throwaway node."""
    cds = class_archive_dir(libs)
    if all((cds / f"{kind}.jsa").is_file() for kind in _ARCHIVE_KINDS):
        return cds
    with _file_lock(libs.parent / "cds.lock"):
        if all((cds / f"{kind}.jsa").is_file() for kind in _ARCHIVE_KINDS):
            return cds
        # Archives of other jars or JDKs are never read again.
        shutil.rmtree(cds.parent, ignore_errors=True)
        cds.mkdir(parents=True)
        with tempfile.TemporaryDirectory(dir=libs.parent, prefix="cds-training-") as tmp:
            trainer = LocalKafka(Path(tmp), libs, training=True)
            trainer.up(nodes=1)
            # The JVM writes its archive while exiting: give it time to finish.
            trainer.stop(1, timeout_s=60.0)
            trainer.down()
        for kind in _ARCHIVE_KINDS:
            partial = cds / f"{kind}.jsa.partial-{os.getpid()}"
            if partial.is_file():
                partial.rename(cds / f"{kind}.jsa")
    return cds


# --- the cluster ----------------------------------------------------------------------------


class LocalKafka:
    """A KRaft cluster of 1 or 3 nodes on loopback, described by files under `state_dir`."""

    def __init__(
        self, state_dir: Path = DEFAULT_STATE_DIR, libs: Path = LIBS, *, training: bool = False
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.libs = libs
        # A training cluster writes the class-data-sharing archives instead of reading them.
        self._training = training

    def _class_data_opts(self, kind: str) -> tuple[str, ...]:
        cds = class_archive_dir(self.libs)
        if self._training:
            return (f"-XX:ArchiveClassesAtExit={cds}/{kind}.jsa.partial-{os.getpid()}",)
        archive = cds / f"{kind}.jsa"
        return (f"-XX:SharedArchiveFile={archive}",) if archive.is_file() else ()

    @property
    def _state_file(self) -> Path:
        return self.state_dir / "state.json"

    def _node_dir(self, node_id: int) -> Path:
        return self.state_dir / f"node-{node_id}"

    def _config(self, node_id: int) -> Path:
        return self._node_dir(node_id) / "server.properties"

    def _log(self, node_id: int) -> Path:
        return self._node_dir(node_id) / "server.log"

    def _pid_file(self, node_id: int) -> Path:
        return self._node_dir(node_id) / "pid"

    def state(self) -> ClusterState | None:
        """The running (or crashed) cluster's layout, or None when nothing was started."""
        try:
            return state_from_json(self._state_file.read_text())
        except FileNotFoundError:
            return None

    def _require_state(self) -> ClusterState:
        state = self.state()
        if state is None:
            raise KafkaLocalError(f"no cluster in {self.state_dir}: run `up` first")
        return state

    def _node(self, node_id: int) -> Node:
        for node in self._require_state().nodes:
            if node.node_id == node_id:
                return node
        raise KafkaLocalError(f"no node {node_id} in {self.state_dir}")

    @property
    def bootstrap(self) -> str:
        """Bootstrap address of the started cluster."""
        return self._require_state().bootstrap

    def pid(self, node_id: int) -> int | None:
        """Pid of the node's JVM if it is running."""
        try:
            pid = int(self._pid_file(node_id).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if is_running(pid, str(self._config(node_id))) else None

    def status(self) -> dict[int, int | None]:
        """Node id -> pid of its running JVM, or None when it is down."""
        state = self.state()
        if state is None:
            return {}
        return {n.node_id: self.pid(n.node_id) for n in state.nodes}

    def up(self, nodes: int = 1, timeout_s: float = READY_TIMEOUT_S) -> str:
        """Start a cluster of `nodes` and return its bootstrap address once it serves metadata.

        Idempotent: a cluster already running in `state_dir` is reused as it is.
        """
        if nodes not in (1, 3):
            raise KafkaLocalError(f"nodes must be 1 or 3, got {nodes}")
        state = self.state()
        if state is not None:
            if len(state.nodes) == nodes and all(self.status().values()):
                return state.bootstrap
            self.down()
        libs = ensure_jars(self.libs)
        if not self._training:
            ensure_class_archives(libs)
        ports = free_ports(2 * nodes)
        layout = tuple(Node(i + 1, ports[2 * i], ports[2 * i + 1]) for i in range(nodes))
        raw = secrets.token_bytes(16)
        while new_cluster_id(raw).startswith("-"):  # Kafka avoids ids that look like flags
            raw = secrets.token_bytes(16)
        state = ClusterState(cluster_id=new_cluster_id(raw), nodes=layout)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._state_file.write_text(state_to_json(state))
        for node in layout:
            node_dir = self._node_dir(node.node_id)
            shutil.rmtree(node_dir, ignore_errors=True)
            node_dir.mkdir(parents=True)
            props = server_properties(node, layout, node_dir / "data")
            self._config(node.node_id).write_text(props)
        self._format(state, libs)
        try:
            for node in layout:
                self._spawn(node.node_id, libs)
            self._wait_ready(state, {n.node_id for n in layout}, timeout_s)
        except BaseException:
            self.down()
            raise
        return state.bootstrap

    def _format(self, state: ClusterState, libs: Path) -> None:
        procs = {}
        for node in state.nodes:
            cmd = [
                "java", *TOOL_JVM_OPTS, *self._class_data_opts("tool"),
                f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
                "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format",
                "-t", state.cluster_id, "-c", str(self._config(node.node_id)),
            ]  # fmt: skip
            # All nodes at once: each format is a JVM start, mostly waiting on class loading.
            procs[node.node_id] = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
        failures = []
        for node_id, proc in procs.items():
            output, _ = proc.communicate(timeout=READY_TIMEOUT_S)
            if proc.returncode != 0:
                failures.append(f"node {node_id}: {tail(output.decode(errors='replace'))}")
        if failures:
            raise KafkaLocalError("formatting storage failed:\n" + "\n".join(failures))

    def _spawn(self, node_id: int, libs: Path) -> None:
        node_dir = self._node_dir(node_id)
        cmd = [
            "java", *JVM_OPTS, *self._class_data_opts("broker"),
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dkafka.logs.dir={node_dir}",
            "-cp", f"{libs}/*", "kafka.Kafka", str(self._config(node_id)),
        ]  # fmt: skip
        pid = spawn(cmd, self._log(node_id), cwd=node_dir)
        self._pid_file(node_id).write_text(f"{pid}\n")

    def _wait_ready(self, state: ClusterState, node_ids: set[int], timeout_s: float) -> None:
        """Wait until each node in `node_ids` answers metadata listing every node of the cluster."""
        expected = frozenset(n.node_id for n in state.nodes)
        deadline = time.monotonic() + timeout_s
        pending = set(node_ids)
        last_error = "no answer yet"
        while pending:
            for node_id in sorted(pending):
                if self.pid(node_id) is None:
                    raise KafkaLocalError(
                        f"kafka node {node_id} exited during start-up; log tail:\n"
                        f"{log_tail(self._log(node_id))}"
                    )
                try:
                    live = metadata_broker_ids(HOST, self._node(node_id).port)
                except OSError as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                    continue
                if live >= expected:
                    pending.discard(node_id)
                else:
                    last_error = f"node {node_id} sees brokers {sorted(live)}"
            if not pending:
                return
            if time.monotonic() > deadline:
                node_id = min(pending)
                raise KafkaLocalError(
                    f"kafka node {node_id} not ready after {timeout_s:.0f}s ({last_error}); "
                    f"log tail:\n{log_tail(self._log(node_id))}"
                )
            time.sleep(0.25)

    def down(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL) and remove the data; leaves the logs."""
        state = self.state()
        if state is None:
            return
        pids = {}
        for node in state.nodes:
            pid = self.pid(node.node_id)
            if pid is not None:
                pids[pid] = str(self._config(node.node_id))
        # The data is thrown away, so no node needs a complete controlled shutdown: the last
        # node of a quorum would otherwise wait seconds for voters that are already gone.
        terminate(pids, timeout_s=4.0)
        for node in state.nodes:
            shutil.rmtree(self._node_dir(node.node_id) / "data", ignore_errors=True)
            self._pid_file(node.node_id).unlink(missing_ok=True)
        self._state_file.unlink(missing_ok=True)

    def stop(self, node_id: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop one node cleanly (controlled shutdown), SIGKILL after `timeout_s`."""
        self._node(node_id)
        pid = self.pid(node_id)
        if pid is not None:
            terminate({pid: str(self._config(node_id))}, timeout_s)

    def kill(self, node_id: int) -> None:
        """SIGKILL one node, as a crash would, and wait until it is gone."""
        self._node(node_id)
        pid = self.pid(node_id)
        if pid is not None:
            terminate({pid: str(self._config(node_id))}, timeout_s=0.0)

    def restart(self, node_id: int, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Start one stopped or killed node on its old ports and data; stop it first if running."""
        state = self._require_state()
        self.stop(node_id)
        self._spawn(node_id, ensure_jars(self.libs))
        self._wait_ready(state, {node_id}, timeout_s)


# --- CLI ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="kafkalocal", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a cluster and print its bootstrap address")
    up.add_argument("--nodes", type=int, choices=(1, 3), default=1)
    up.add_argument("--timeout", type=float, default=READY_TIMEOUT_S)
    commands.add_parser("down", help="stop every node and remove the data")
    commands.add_parser("status", help="print node ids and pids as JSON")
    commands.add_parser("fetch", help="fetch the broker's jars with Maven and prepare its JVM")
    for name, text in (
        ("kill", "SIGKILL one node"),
        ("stop", "stop one node cleanly"),
        ("restart", "start one node again"),
    ):
        commands.add_parser(name, help=text).add_argument("node_id", type=int)
    # Accept --state-dir after the command too, as in `up --state-dir DIR`.
    for sub in commands.choices.values():
        sub.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    cluster = LocalKafka(args.state_dir)
    try:
        if args.command == "up":
            external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
            print(external or cluster.up(args.nodes, args.timeout))  # noqa: T201 - the CLI's output
        elif args.command == "down":
            cluster.down()
        elif args.command == "status":
            status = {str(k): v for k, v in cluster.status().items()}
            print(json.dumps(status))  # noqa: T201 - the CLI's output
        elif args.command == "fetch":
            print(ensure_class_archives(ensure_jars(cluster.libs)))  # noqa: T201 - the CLI's output
        elif args.command == "kill":
            cluster.kill(args.node_id)
        elif args.command == "stop":
            cluster.stop(args.node_id)
        else:
            cluster.restart(args.node_id)
    except KafkaLocalError as exc:
        print(f"kafkalocal: {exc}", file=sys.stderr)  # noqa: T201 - the CLI's error report
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
