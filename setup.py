"""Packaging glue that pyproject.toml cannot express: the top-level conf/ ships as the package `aqnet.conf`.

Hydra then finds the config tree as pkg://aqnet.conf from an editable install and from a wheel alike.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["aqnet", "aqnet.*"]), "aqnet.conf"],
    package_dir={"aqnet.conf": "conf"},
)
