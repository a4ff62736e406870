"""ocirt: an OCI runtime with runc's command-line interface.

Importing this package must stay cheap: every ocirt command is a fresh
process, so nothing here imports more than the version string needs.
"""
__version__ = "0.1.0"
SPEC_VERSION = "1.3.0"
LAUNCHER = "the Python interpreter"  # ocirt.boot says so when the compiled launcher starts
