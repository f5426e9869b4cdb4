"""Maps the two source roots onto import names and builds the optional C extensions.

Libraries live in ``packages/orderflow`` and the programs that run in ``services/``
(imported as ``orderflow_services``); pyproject.toml alone cannot list a package tree
whose directory name differs from its import name, so the listing is computed here.

Every ``packages/orderflow/native/_<name>.c`` becomes the extension module
``orderflow.native._<name>``. They are optional: Orderflow computes the same numbers
in Python without them, so a machine without a C compiler or the SQLite headers still
installs, and the build says so in one line (``orderflow.native`` then reports why the
kernel did not load).
"""

import sys
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

SERVICES = ["orderflow_services"] + [
    f"orderflow_services.{name}" for name in find_packages("services")
]
NATIVE_DIR = Path("packages/orderflow/native")


def native_extensions() -> list[Extension]:
    """One extension per C source; each links the system SQLite, which is the same
    shared library Python's own sqlite3 module loads (libsqlite3.so.0)."""
    return [
        Extension(
            f"orderflow.native.{source.stem}",
            sources=[source.as_posix()],
            depends=[header.as_posix() for header in sorted(NATIVE_DIR.glob("*.h"))],
            libraries=["sqlite3"],
            extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
        for source in sorted(NATIVE_DIR.glob("_*.c"))
    ]


class OptionalBuildExt(build_ext):
    """Builds each extension if it can; a failure is one line on stderr, not an error."""

    def run(self) -> None:
        self.failed: set[str] = set()
        try:
            super().run()
        except Exception as exc:  # no compiler at all (DistutilsPlatformError and kin)
            self._skipped("the native extensions", exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # a missing header or library, a compile error
            self.failed.add(ext.name)
            self._skipped(ext.name, exc)

    def copy_extensions_to_source(self) -> None:
        """An editable install copies what was built; what failed is left out."""
        self.extensions = [ext for ext in self.extensions if ext.name not in self.failed]
        super().copy_extensions_to_source()

    @staticmethod
    def _skipped(what: str, exc: Exception) -> None:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        print(
            f"orderflow: {what} not built ({reason}); the Python path will be used",
            file=sys.stderr,
        )


setup(
    package_dir={"orderflow": "packages/orderflow", "orderflow_services": "services"},
    packages=find_packages("packages") + SERVICES,
    ext_modules=native_extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
)
