"""rediss:// against a real redis-server with TLS (self-signed CA trusted via SSL_CERT_FILE)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.config import OnlineConfig
from store.errors import OnlineStoreError
from store.online import OnlineStore, ViewRead

from .helpers import NOW, ago, rows, view


@pytest.fixture
def tls_port(tmp_path: Path, unused_port: int) -> Iterator[int]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make the test certificate", pytrace=False)
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    make_cert = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    make_cert += ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
    make_cert += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        make_cert,
        check=True,
        capture_output=True,
    )
    args = ["redis-server", "--port", "0", "--tls-port", str(unused_port), "--save", ""]
    args += ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    args += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no", "--dir", str(tmp_path)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    try:
        yield unused_port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_rediss_url(tls_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"rediss://127.0.0.1:{tls_port}/0"
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
    online = OnlineStore(OnlineConfig(url=url), tmp_path, "proj")
    for _ in range(50):  # the server may still be starting
        try:
            online.ping()
            break
        except OnlineStoreError:
            time.sleep(0.1)
    # Without trusting the self-signed certificate, TLS verification fails, clearly.
    monkeypatch.delenv("SSL_CERT_FILE")
    untrusted = OnlineStore(OnlineConfig(url=url), tmp_path, "proj")
    with pytest.raises(OnlineStoreError, match=r"rediss://127.0.0.1.*certificate"):
        untrusted.ping()
    fv = view(ttl=None)
    record = {
        "user_id": 1,
        "amount": 0.5,
        "label": "tls",
        "__event_ts": ago(hours=1),
        "__created_ts": ago(hours=1),
    }
    assert online.write(fv, fv.version, rows(fv, [record])).written == 1
    read = online.read([ViewRead(fv, fv.version, ["label"])], [{"user_id": 1}], NOW)
    assert read.columns[0].values == ["tls"]
    online.close()
