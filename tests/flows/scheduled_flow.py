"""A flow with Metaflow's scheduling decorators."""

from flowstone import FlowSpec, schedule, step, trigger_on_finish


@schedule(cron="0 3 * * *")
@trigger_on_finish(flow="UpstreamFlow")
class ScheduledFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ScheduledFlow()
