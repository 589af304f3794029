"""A flow whose start step stores one large artifact (uploaded in parts on S3)."""

import os

from flowstone import FlowSpec, Parameter, step


class BigArtifactFlow(FlowSpec):
    mib = Parameter("mib", default=96, type=int)

    @step
    def start(self):
        self.big = os.urandom(self.mib << 20)  # incompressible: stored raw, streamed in parts
        self.next(self.end)

    @step
    def end(self):
        self.size = len(self.big)


if __name__ == "__main__":
    BigArtifactFlow()
