"""A @parallel step whose tasks talk to each other: task 0 listens at ``current.parallel.main_ip`` on --port,
the others connect to it and say their index, as the workers of a distributed job find their leader. It can
only succeed if all of its tasks run at the same time and the main address is where task 0 runs."""

import socket
import time

from flowstone import FlowSpec, Parameter, current, parallel, resources, step

DEADLINE_SECONDS = 60


class GangFlow(FlowSpec):
    nodes = Parameter("nodes", default=2)
    port = Parameter("port", default=0)

    @step
    def start(self):
        self.next(self.train, num_parallel=self.nodes)

    @resources(cpu=1)
    @parallel
    @step
    def train(self):
        node = current.parallel
        self.where = (node.node_index, node.num_nodes, node.main_ip)
        if node.node_index == 0:
            self.heard = sorted(_gather(node.main_ip, self.port, node.num_nodes - 1))
        else:
            _say(node.main_ip, self.port, node.node_index)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.where = sorted(i.where for i in inputs)
        self.heard = next(i.heard for i in inputs if i.where[0] == 0)
        self.next(self.end)

    @step
    def end(self):
        pass


def _gather(address, port, count):
    with socket.create_server((address, port)) as server:
        server.settimeout(DEADLINE_SECONDS)
        heard = []
        while len(heard) < count:
            connection, _ = server.accept()
            with connection:
                heard.append(int(connection.makefile().readline()))
        return heard


def _say(address, port, index):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:  # the leader may not listen yet: try again until it does, within the deadline
        try:
            with socket.create_connection((address, port), timeout=5) as connection:
                connection.sendall(f"{index}\n".encode())
                return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


if __name__ == "__main__":
    GangFlow()
