from behaviours import misbehave

from flowstone import FlowSpec, Parameter, step


class LinearFlow(FlowSpec):
    scale = Parameter("scale", default=2, help="multiplier")

    @step
    def start(self):
        misbehave(self)
        self.values = [1, 2, 3]
        self.untouched = "passed through"
        self.next(self.double)

    @step
    def double(self):
        misbehave(self)
        self.values = [v * self.scale for v in self.values]
        self.next(self.add)

    @step
    def add(self):
        misbehave(self)
        self.total = sum(self.values)
        self.next(self.end)

    @step
    def end(self):
        misbehave(self)
        assert self.untouched == "passed through"
        self.result = {"total": self.total, "scale": self.scale}


if __name__ == "__main__":
    LinearFlow()
