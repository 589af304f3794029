"""A flow that keeps what `current` tells its steps, client objects included."""

from flowstone import FlowSpec, current, step


class CurrentObjectsFlow(FlowSpec):
    @step
    def start(self):
        self.tags_seen = current.tags
        current.tags.add("changed locally")  # a copy: the run's tags stay as they are
        self.task_obj = current.task
        self.run_obj = current.run
        self.has_step_name = "step_name" in current
        self.missing = current.get("no_such_value", "default")
        self.next(self.end)

    @step
    def end(self):
        self.tags_in_end = current.tags


if __name__ == "__main__":
    CurrentObjectsFlow()
