"""A flow whose steps read from outside their artifacts, one kind of read per branch: a local file (and one that
may be missing), an environment variable, a web page, random numbers drawn with and without a seed (Python's and
numpy's generators). The artifacts the branches store do not depend on the random numbers, so what follows them
is reused when they run again (and a file of other content but the same length changes only the step that
reads it)."""

import os
import random
import urllib.request

import numpy as np

from flowstone import FlowSpec, Parameter, step


class ReadsFlow(FlowSpec):
    url = Parameter("url", default="", help="a web page the fetch step reads")

    @step
    def start(self):
        self.next(self.read_file, self.read_env, self.fetch, self.draw, self.draw_seeded, self.draw_numpy,
                  self.draw_numpy_seeded)

    @step
    def read_file(self):
        with open("data.txt") as f:
            self.length = len(f.read())
        try:
            with open("optional.txt") as f:
                self.optional = f.read()
        except FileNotFoundError:
            self.optional = None
        self.next(self.count)

    @step
    def count(self):
        self.doubled = 2 * self.length
        self.next(self.join)

    @step
    def read_env(self):
        self.mode = os.environ.get("READS_MODE", "default")
        self.next(self.join)

    @step
    def fetch(self):
        self.fetched = bool(self.url) and urllib.request.urlopen(self.url).status == 200
        self.next(self.join)

    @step
    def draw(self):
        self.drew = 0 <= random.random() < 1
        self.next(self.join)

    @step
    def draw_seeded(self):
        random.seed(7)
        self.seeded = random.random()
        self.next(self.join)

    @step
    def draw_numpy(self):
        self.drew_numpy = 0 <= float(np.random.rand()) < 1 and 0 <= np.random.default_rng().random() < 1
        self.next(self.join)

    @step
    def draw_numpy_seeded(self):
        np.random.seed(3)
        self.numpy_seeded = float(np.random.rand()) + float(np.random.default_rng(5).random())
        self.next(self.join)

    @step
    def join(self, inputs):
        self.length = inputs.count.doubled // 2
        self.mode = inputs.read_env.mode
        self.next(self.end)

    @step
    def end(self):
        self.result = {"length": self.length, "mode": self.mode}
        print(f"the result is {self.result}")


if __name__ == "__main__":
    ReadsFlow()
