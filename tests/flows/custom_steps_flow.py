"""Start and end steps with names of their own, marked @step(start=True) and @step(end=True)."""

from behaviours import misbehave

from flowstone import FlowSpec, Parameter, step


class CustomStepsFlow(FlowSpec):
    greeting = Parameter("greeting", default="hello")

    @step(start=True)
    def begin(self):
        misbehave(self)
        self.message = self.greeting
        self.next(self.middle)

    @step
    def middle(self):
        misbehave(self)
        self.message += " world"
        self.next(self.finish)

    @step(end=True)
    def finish(self):
        misbehave(self)
        self.result = self.message


if __name__ == "__main__":
    CustomStepsFlow()
