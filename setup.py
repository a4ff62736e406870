# Everything else is in setup.cfg; this file only names the cffi module.
from setuptools import setup

setup(cffi_modules=["csrc/build.py:ffibuilder"])
