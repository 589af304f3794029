from behaviours import misbehave

from flowstone import FlowSpec, step


class BranchFlow(FlowSpec):
    @step
    def start(self):
        misbehave(self)
        self.shared = [1, 2, 3]
        self.next(self.a, self.b)

    @step
    def a(self):
        misbehave(self)
        self.from_a = sum(self.shared)
        self.common = "same"
        self.next(self.join)

    @step
    def b(self):
        misbehave(self)
        self.from_b = max(self.shared)
        self.common = "same"
        self.next(self.join)

    @step
    def join(self, inputs):
        misbehave(self)
        self.merge_artifacts(inputs)
        assert inputs.a.from_a == 6 and inputs.b.from_b == 3
        self.next(self.end)

    @step
    def end(self):
        misbehave(self)
        self.result = {"a": self.from_a, "b": self.from_b, "common": self.common, "shared": self.shared}


if __name__ == "__main__":
    BranchFlow()
