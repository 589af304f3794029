"""A flow with what the UI draws and shows: a branch, a foreach with a log line per task, a DataFrame, an array,
an image, two cards (the default one, and one of components with an id), a parameter that changes one step's
inputs only (``scale``), and a step that can be made to fail."""

import base64

import numpy as np
import pandas as pd

from flowstone import FlowSpec, Parameter, card, current, step
from flowstone.cards import Markdown, Table

# a 1x1 PNG: the UI shows image artifacts as pictures
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class UiFlow(FlowSpec):
    scale = Parameter("scale", default=1, type=int)
    width = Parameter("width", default=3, type=int)
    fail = Parameter("fail", default=False, type=bool)

    @step
    def start(self):
        self.items = list(range(self.width))
        print("starting with", self.width, "items")
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.square = self.input * self.input
        print(f"work item {self.input} squared is {self.square}")
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.squares = [inp.square for inp in inputs]
        self.next(self.report)

    @step
    def left(self):
        self.side = "left"
        self.next(self.meet)

    @step
    def right(self):
        self.side = "right"
        self.next(self.meet)

    @step
    def meet(self, inputs):
        self.sides = sorted(inp.side for inp in inputs)
        self.merge_artifacts(inputs, exclude=["side"])
        self.next(self.end)

    @card
    @card(type="blank", id="summary")
    @step
    def report(self):
        if self.fail:
            raise ValueError("asked to fail")
        self.total = sum(self.squares) * self.scale
        current.card["summary"].append(Markdown(f"# Squares report\n\nThe total is **{self.total}**."))
        current.card["summary"].append(Table([[i, s] for i, s in enumerate(self.squares)], headers=["item", "square"]))
        self.table = pd.DataFrame({"item": range(len(self.squares)), "square": self.squares})
        self.matrix = np.arange(12, dtype=float).reshape(3, 4) * self.scale
        self.picture = PIXEL
        print(f"total is {self.total}")
        self.next(self.left, self.right)

    @step
    def end(self):
        self.message = f"done: {self.total}"


if __name__ == "__main__":
    UiFlow()
