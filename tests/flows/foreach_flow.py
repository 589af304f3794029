from behaviours import misbehave

from flowstone import FlowSpec, Parameter, step


class ForeachFlow(FlowSpec):
    count = Parameter("count", default=4, type=int)

    @step
    def start(self):
        misbehave(self)
        self.items = [f"item-{i}" for i in range(self.count)]
        self.config = {"suffix": "!"}
        self.next(self.body, foreach="items")

    @step
    def body(self):
        misbehave(self)
        self.out = f"{self.input}{self.config['suffix']}@{self.index}"
        self.next(self.join)

    @step
    def join(self, inputs):
        misbehave(self)
        self.outs = [inp.out for inp in inputs]
        self.indexes = [inp.index for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        misbehave(self)
        self.result = {"outs": self.outs, "indexes": self.indexes, "count": self.count}


if __name__ == "__main__":
    ForeachFlow()
