"""Meta's official Python SDK (facebook_business, pinned in scripts/test-sdk)
as the judge of the Graph sandbox.

Each test module gets a fresh sandbox (`graph-gateway sandbox --listen
127.0.0.1:<free port>`, the binary from $GRAPH_GATEWAY_BIN), killed when the
module ends. The SDK talks to it only: its session's GRAPH is the sandbox's
loopback URL and requests ignore proxy settings.

Every test names its catalogue ids with @pytest.mark.ops(...); at the end the
suite prints the covered ids and, with SDK_COVERAGE_STRICT=1 (set by
scripts/test-sdk), fails unless every catalogue id was covered by a passing
test.
"""

import os
import socket
import subprocess
import time
import warnings
from pathlib import Path

import pytest
from facebook_business import apiconfig
from facebook_business.api import FacebookAdsApi, FacebookSession

# The SDK's own warnings raise (FacebookBadObjectError) instead of warning.
apiconfig.ads_api_config["STRICT_MODE"] = True
warnings.simplefilter("error")

API_VERSION = "v26.0"
REPO = Path(__file__).resolve().parents[2]

TOKENS = {
    "acme": "sandbox-token-acme-admin",
    "globex": "sandbox-token-globex-admin",
    "initech": "sandbox-token-initech-admin",
    "acme_employee": "sandbox-token-acme-employee",
    "alice": "sandbox-token-alice",
    "bob": "sandbox-token-bob",
    "carol": "sandbox-token-carol",
    "erin": "sandbox-token-erin",
}

ACME = "1000000001"
GLOBEX = "1000000002"
INITECH = "1000000003"

# Catalogue operations whose edge the SDK lacks (gone from Meta's spec, kept
# by the sandbox for apps with legacy access): reached with api.call.
SDK_LACKS = {"AG04", "AG24", "AG25", "AG26", "AP04", "BB01", "OB01", "OB03", "OB05", "OB06"}


def catalogue_ids():
    """Every operation id of tests/data/graph-routes.tsv."""
    ids = set()
    for line in (REPO / "tests/data/graph-routes.tsv").read_text().splitlines():
        if not line or line.startswith("#") or line.startswith("op\t"):
            continue
        ids.add(line.split("\t")[0])
    return ids


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SandboxProcess:
    """One `graph-gateway sandbox` process on a loopback port."""

    def __init__(self, binary, extra_args=()):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [binary, "sandbox", "--listen", f"127.0.0.1:{self.port}", *extra_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sandbox exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("sandbox did not start listening within 30 s")
                time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_api(url, token):
    """A FacebookAdsApi whose session points at the sandbox."""
    session = FacebookSession(access_token=token, timeout=30)
    session.GRAPH = url
    session.requests.trust_env = False  # no proxies: 127.0.0.1 only
    return FacebookAdsApi(session, api_version=API_VERSION)


class Apis:
    """Per-token FacebookAdsApi objects for one sandbox."""

    def __init__(self, url):
        self.url = url
        # The documented set-up: init (the default api), then point its
        # session at the sandbox.
        default = FacebookAdsApi.init(access_token=TOKENS["acme"], api_version=API_VERSION)
        default._session.GRAPH = url
        default._session.requests.trust_env = False
        self._apis = {"acme": default}

    def __getitem__(self, name):
        if name not in self._apis:
            self._apis[name] = make_api(self.url, TOKENS.get(name, name))
        return self._apis[name]

    def token(self, value):
        """An api for a token value (e.g. a page token)."""
        return self[value]


def _binary():
    binary = os.environ.get("GRAPH_GATEWAY_BIN")
    if not binary:
        target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
        binary = str(Path(target) / "debug" / "graph-gateway")
    if not Path(binary).exists():
        pytest.exit(f"no gateway binary at {binary}; run scripts/test-sdk", returncode=2)
    return binary


@pytest.fixture(scope="module")
def sandbox():
    proc = SandboxProcess(_binary())
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def apis(sandbox):
    return Apis(sandbox.url)


@pytest.fixture
def legacy_off_sandbox():
    """A second sandbox for an app without legacy access."""
    proc = SandboxProcess(_binary(), ["--no-legacy-edges"])
    try:
        yield proc
    finally:
        proc.stop()


def read_all(api, make_cursor):
    """Iterates a Cursor to its end and returns (items, requests made).

    `make_cursor` gets the api and must ask for a small page (limit 1), so
    that a list of N >= 2 items takes N pages.
    """
    before = api._num_requests_succeeded
    items = list(make_cursor())
    return items, api._num_requests_succeeded - before


def ids(items):
    return [item["id"] for item in items]


# --- coverage of catalogue ids -------------------------------------------------

_OPS = {}
_COVERED = {}
_FAILED = set()


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        marker = item.get_closest_marker("ops")
        if marker:
            _OPS[item.nodeid] = (marker.args, marker.kwargs.get("via", "sdk"))


def pytest_runtest_logreport(report):
    if report.nodeid not in _OPS:
        return
    if report.failed:
        _FAILED.add(report.nodeid)
    if report.when == "call" and report.passed:
        ops, via = _OPS[report.nodeid]
        for op in ops:
            _COVERED.setdefault(op, set()).add(via)


def pytest_sessionfinish(session, exitstatus):
    expected = catalogue_ids()
    covered = {op for op in _COVERED if op not in _FAILED}
    missing = sorted(expected - set(_COVERED))
    unknown = sorted(set(_COVERED) - expected)
    session.config._sdk_coverage = (covered, missing, unknown)
    if os.environ.get("SDK_COVERAGE_STRICT") == "1" and exitstatus == 0:
        # Edges the SDK exposes must be covered through its objects; the
        # others through api.call.
        wrong_via = sorted(
            op
            for op, vias in _COVERED.items()
            if ("call" if op in SDK_LACKS else "sdk") not in vias
        )
        if missing or unknown or wrong_via:
            session.config._sdk_coverage_error = (
                f"coverage: missing {missing}, unknown {unknown}, "
                f"SDK-exposed ids covered only via api.call or vice versa {wrong_via}"
            )
            session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    data = getattr(config, "_sdk_coverage", None)
    if data is None:
        return
    covered, missing, unknown = data
    sdk = sorted(op for op, v in _COVERED.items() if "sdk" in v)
    call = sorted(op for op, v in _COVERED.items() if v == {"call"})
    terminalreporter.write_sep("=", "catalogue ids covered by Meta's Python SDK")
    terminalreporter.write_line(f"via SDK objects ({len(sdk)}): {' '.join(sdk)}")
    terminalreporter.write_line(f"via FacebookAdsApi.call ({len(call)}): {' '.join(call)}")
    terminalreporter.write_line(f"covered {len(_COVERED)} of {len(catalogue_ids())}; missing: {' '.join(missing) or 'none'}")
    if unknown:
        terminalreporter.write_line(f"unknown ids: {' '.join(unknown)}")
    err = getattr(config, "_sdk_coverage_error", None)
    if err:
        terminalreporter.write_line(f"FAILED {err}", red=True)
