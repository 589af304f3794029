"""A flow that uses the S3 client in its steps: it reads an object named by a parameter (an external input of
the step cache), includes another as a file, and keeps a note under the run's own prefix."""

from flowstone import S3, FlowSpec, IncludeFile, Parameter, current, step


class S3Flow(FlowSpec):
    source = Parameter("source", help="s3:// URL of a text object to read")
    config = IncludeFile("config", help="a file or s3:// URL", required=False)

    @step
    def start(self):
        self.numbers = [1, 2, 3]
        self.next(self.read)

    @step
    def read(self):
        with S3() as s3:
            obj = s3.get(self.source)
            self.text = obj.text
            self.downloaded_to_task_tempdir = obj.path.startswith(current.tempdir)
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(self.numbers) + len(self.text)
        self.config_seen = self.config
        with S3(run=self) as s3:
            self.note_url = s3.put("note", f"total={self.total}")
            self.note_back = s3.get("note").text


if __name__ == "__main__":
    S3Flow()
