from behaviours import misbehave

from flowstone import FlowSpec, step


class NestedBranchFlow(FlowSpec):
    @step
    def start(self):
        misbehave(self)
        self.base = 10
        self.next(self.left, self.right)

    @step
    def left(self):
        misbehave(self)
        self.next(self.left_a, self.left_b)

    @step
    def left_a(self):
        misbehave(self)
        self.la = self.base + 1
        self.next(self.left_join)

    @step
    def left_b(self):
        misbehave(self)
        self.lb = self.base + 2
        self.next(self.left_join)

    @step
    def left_join(self, inputs):
        misbehave(self)
        self.merge_artifacts(inputs)
        self.left_sum = self.la + self.lb
        self.next(self.join)

    @step
    def right(self):
        misbehave(self)
        self.right_value = self.base * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        misbehave(self)
        self.merge_artifacts(inputs, exclude=["la", "lb"])
        self.next(self.end)

    @step
    def end(self):
        misbehave(self)
        self.result = {"left": self.left_sum, "right": self.right_value, "base": self.base}


if __name__ == "__main__":
    NestedBranchFlow()
