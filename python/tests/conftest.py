"""A real corvid-server and corvid-worker for the whole pytest session (tests/integration's
Cluster), with CORVID_SERVER and CORVID_TOKEN set so that `R.Graph(...)` finds them as a
developer's program would."""

import os
import sys
import types

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
import harness  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--server-bin", required=True, help="corvid-server")
    parser.addoption("--worker-bin", required=True, help="corvid-worker")


@pytest.fixture(scope="session")
def cluster(request):
    bins = types.SimpleNamespace(server=request.config.getoption("--server-bin"),
                                 worker=request.config.getoption("--worker-bin"), corvid=None)
    c = harness.Cluster(bins, "python")
    try:
        c.start_server()
        c.start_worker("py-w1")
        c.wait_workers_ready(["py-w1"])
        saved = {k: os.environ.get(k) for k in ("CORVID_SERVER", "CORVID_TOKEN")}
        os.environ["CORVID_SERVER"] = c.url
        os.environ["CORVID_TOKEN"] = c.token()
        yield c
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    except BaseException:
        c.dump_logs()
        raise
    finally:
        c.stop()
