from behaviours import misbehave

from flowstone import FlowSpec, step


class BranchInForeachFlow(FlowSpec):
    @step
    def start(self):
        misbehave(self)
        self.numbers = [1, 2, 3]
        self.next(self.fan, foreach="numbers")

    @step
    def fan(self):
        misbehave(self)
        self.n = self.input
        self.next(self.square, self.cube)

    @step
    def square(self):
        misbehave(self)
        self.sq = self.n**2
        self.next(self.inner_join)

    @step
    def cube(self):
        misbehave(self)
        self.cu = self.n**3
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        misbehave(self)
        self.merge_artifacts(inputs)
        self.pair = (self.n, self.sq, self.cu)
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        misbehave(self)
        self.pairs = [inp.pair for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        misbehave(self)
        self.result = {"pairs": self.pairs}


if __name__ == "__main__":
    BranchInForeachFlow()
