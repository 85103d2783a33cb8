"""Repo-local pytest wiring: nothing beyond the package's own plugin.

The conformance plugin (conformance/pytest_plugin.py) is a `pytest11` entry point of the installed
package, so its options exist wherever pytest runs. This line also loads it in a checkout that was
not installed (PYTHONPATH=. pytest); where the entry point already loaded it, it is a no-op.
"""

pytest_plugins = ("conformance.pytest_plugin", "conformance.sharding")
