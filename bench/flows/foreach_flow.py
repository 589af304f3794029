from flowstone import FlowSpec, Parameter, step


class BenchForeachFlow(FlowSpec):
    width = Parameter("width", default=200, type=int)

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.square = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(inp.square for inp in inputs)
        self.next(self.end)

    @step
    def end(self):
        print(self.total)


if __name__ == "__main__":
    BenchForeachFlow()
