"""Steps with packages of their own (@pypi, @conda, the flow's @pypi_base), and one without."""

import os
import sys

from flowstone import FlowSpec, conda, pypi, pypi_base, step

SIX = os.environ.get("FS_TEST_SIX_VERSION", "1.16.0")


@pypi_base(packages={"tomli-w": "1.0.0"})
class EnvironmentFlow(FlowSpec):
    @pypi(packages={"six": SIX})
    @step
    def start(self):
        import six
        import tomli_w

        self.six_version = six.__version__
        self.tomli_w_file = tomli_w.__file__
        self.python = sys.executable
        self.numbers = [1, 2, 3]
        self.next(self.plain)

    @pypi(disabled=True)
    @step
    def plain(self):
        try:
            import six  # noqa: F401
        except ImportError:
            self.has_six = False
        else:
            self.has_six = True
        self.python = sys.executable
        self.total = sum(self.numbers)  # an artifact made in the environment, read here
        self.next(self.end)

    @conda(packages={"six": "1.15.0"})
    @step
    def end(self):
        import six

        self.six_version = six.__version__


if __name__ == "__main__":
    EnvironmentFlow()
