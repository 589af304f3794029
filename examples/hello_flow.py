"""A first flow: a parameter, a foreach over items, a join, and artifacts that flow between steps."""

from flowstone import FlowSpec, Parameter, step


class HelloFlow(FlowSpec):
    """Greets a few names in parallel and collects the greetings."""

    greeting = Parameter("greeting", default="Hello", help="How to greet.")

    @step
    def start(self):
        """Choose whom to greet."""
        self.names = ["Ada", "Grace", "Linus"]
        self.next(self.greet, foreach="names")

    @step
    def greet(self):
        """Greet one name (one task per name)."""
        self.message = f"{self.greeting}, {self.input}!"
        print(self.message)
        self.next(self.join)

    @step
    def join(self, inputs):
        """Collect the greetings."""
        self.messages = [inp.message for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        """Show what was collected."""
        print(f"{len(self.messages)} greetings: {self.messages}")


if __name__ == "__main__":
    HelloFlow()
