from flowstone import FlowSpec, step


class BenchTwoStepFlow(FlowSpec):
    @step
    def start(self):
        self.message = "hi"
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BenchTwoStepFlow()
