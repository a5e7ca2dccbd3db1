"""locust (the soak test's load generator) ships a pytest plugin that imports gevent and
monkey-patches threads and sockets; in the suite that would change how the live
servers and the database behave. pyproject's addopts turn it off (`-p no:locust`)."""


def test_not_patched():
    import sys

    assert "gevent" not in sys.modules, "locust's pytest plugin monkey-patched the test process"
