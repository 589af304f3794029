"""A flow whose tasks change their run's tags at the same time, each checking its own changes through the
client; its end step fails and @catch catches it."""

from flowstone import FlowSpec, Task, catch, current, step


class TaggingFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(6))
        self.next(self.change, foreach="items")

    @step
    def change(self):
        run = Task(current.pathspec).parent.parent
        for i in range(5):
            tag = f"t{i}"  # every task adds and removes the same tags
            run.add_tag(tag)
            assert tag in run.user_tags
            run.remove_tag(tag)
            assert tag not in run.user_tags
        run.add_tag(f"from-{self.input}")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @catch(var="end_error", print_exception=False)
    @step
    def end(self):
        raise ValueError("caught at the end")


if __name__ == "__main__":
    TaggingFlow()
