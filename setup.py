"""Maps the two source roots onto import names.

Libraries live in ``packages/orderflow`` and the programs that run in ``services/``
(imported as ``orderflow_services``); pyproject.toml alone cannot list a package tree
whose directory name differs from its import name, so the listing is computed here.
"""

from setuptools import find_packages, setup

SERVICES = ["orderflow_services"] + [
    f"orderflow_services.{name}" for name in find_packages("services")
]

setup(
    package_dir={"orderflow": "packages/orderflow", "orderflow_services": "services"},
    packages=find_packages("packages") + SERVICES,
)
