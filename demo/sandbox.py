"""Start and stop the sandbox FHIR server (sekmet-fhir 0.1.1) for tests, benchmarks and ``make demo``.

sekmet-fhir lives in its own virtual environment (``.sandbox``, see the Makefile) so that its pins never meet ours;
we run ``.sandbox/bin/sekmet serve --config <settings.yaml>`` as a subprocess on 127.0.0.1 with the workflow
simulator switched off (it would answer our Tasks and ServiceRequests on its own) and its SQLite file in a work
folder. The settings file is JSON, which is valid YAML.

    with FhirSandbox(tmp_path) as sandbox:
        httpx.get(f"{sandbox.base_url}/metadata")
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from rtletter.demo.errors import SandboxError

ROOT = Path(__file__).resolve().parents[1]
SANDBOX_BIN_ENV = "RTLETTER_SANDBOX_BIN"  # override the sekmet executable
DEFAULT_SEKMET = ROOT / ".sandbox" / "bin" / "sekmet"
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class FhirSandbox:
    """One sekmet-fhir server process. ``stop()`` then ``start()`` restarts it on the same port and database."""

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        settings: dict[str, Any] | None = None,
        executable: Path | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()  # sekmet runs with cwd=workdir: a relative config path would miss
        self.port = port or free_port()
        self.executable = Path(executable or os.environ.get(SANDBOX_BIN_ENV) or DEFAULT_SEKMET)
        self.extra_settings = settings or {}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def root_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/fhir"

    @property
    def settings(self) -> dict[str, Any]:
        data = self.workdir / "data"
        base = {
            "base_url": self.base_url,
            "host": HOST,
            "port": self.port,
            "data_dir": str(data),
            "db_path": str(data / "sekmet.db"),
            "own_private_key_path": str(self.workdir / "keys" / "sekmet_private.pem"),
            "simulator": {"enabled": False},
            "log_inbound": False,  # its traffic log costs a write per request
        }
        return _merge(base, self.extra_settings)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> FhirSandbox:
        if self.running:
            return self
        if not self.executable.exists():
            raise SandboxError(
                f"{self.executable} not found: python3 -m venv .sandbox && .sandbox/bin/pip install sekmet-fhir==0.1.1"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "settings.yaml"
        config.write_text(json.dumps(self.settings, indent=2))
        log = (self.workdir / "sekmet.log").open("ab")
        self._process = subprocess.Popen(
            [str(self.executable), "serve", "--config", str(config)],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SEKMET_CONFIG": str(config)},
        )
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise SandboxError(f"sekmet exited with {self._process.returncode}; see {self.workdir / 'sekmet.log'}")
            try:
                if httpx.get(f"{self.base_url}/metadata", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SandboxError(f"sekmet did not answer /metadata within {STARTUP_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def load(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """Store every resource of a bundle (collection, transaction or searchset) under its own id."""
        response = httpx.post(
            self.base_url, json=as_transaction(bundle), headers={"Content-Type": "application/fhir+json"}, timeout=60
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def __enter__(self) -> FhirSandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def as_transaction(bundle: dict[str, Any]) -> dict[str, Any]:
    """A transaction that PUTs every resource of ``bundle`` at ``Type/id`` (ids are kept, so references resolve)."""
    entries = []
    for entry in bundle.get("entry", []):
        resource = entry.get("resource")
        if not isinstance(resource, dict) or not resource.get("id"):
            continue
        url = f"{resource['resourceType']}/{resource['id']}"
        entries.append({"fullUrl": url, "resource": resource, "request": {"method": "PUT", "url": url}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
