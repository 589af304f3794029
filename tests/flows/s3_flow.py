"""A flow that uses the S3 client in its steps: it reads an object named by a parameter (an external input of
the step cache) and writes one under the run's own prefix."""

from flowstone import S3, FlowSpec, Parameter, step


class S3Flow(FlowSpec):
    source = Parameter("source", help="s3:// URL of a text object to read")

    @step
    def start(self):
        self.numbers = [1, 2, 3]
        self.next(self.read)

    @step
    def read(self):
        with S3() as s3:
            self.text = s3.get(self.source).text
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(self.numbers) + len(self.text)


if __name__ == "__main__":
    S3Flow()
