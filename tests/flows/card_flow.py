"""Cards of every kind: the default card with components, several cards on a step (by id), a card type of the
flow's own, cards that fail to render, and a step without a card."""

import base64

from flowstone import FlowSpec, Parameter, card, current, step
from flowstone.cards import (
    Artifact,
    Image,
    Markdown,
    MetaflowCard,
    ProgressBar,
    Table,
    ValueBox,
    VegaChart,
)

# a 1x1 PNG
DOT = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
CHART = {
    "data": {
        "values": [{"region": "north", "units": 3}, {"region": "south", "units": 5}, {"region": "east", "units": 2}]
    },
    "mark": "bar",
    "encoding": {"x": {"field": "region", "type": "nominal"}, "y": {"field": "units", "type": "quantitative"}},
}


class RowsCard(MetaflowCard):
    """A card type of the flow's own, as Metaflow users write them."""

    type = "test_rows"

    def __init__(self, options=None, components=None, graph=None, flow=None, **kwargs):
        self._prefix = (options or {}).get("prefix", "")

    def render(self, task):
        return f"<html><body><p id='custom'>{self._prefix} {task['rows'].data} {task.pathspec}</p></body></html>"


class BrokenCard(MetaflowCard):
    type = "test_broken"

    def render(self, task):
        raise ValueError("this card is broken on purpose")


class CardFlow(FlowSpec):
    alpha = Parameter("alpha", default=0.5)

    @card
    @step
    def start(self):
        import pandas as pd

        self.rows = 3
        self.frame = pd.DataFrame({"region": ["north", "south", "east"], "units": [3, 5, 2]})
        self.picture = DOT
        self.settings = {"depth": 4, "tags": ["a", "b"]}
        current.card.append(Markdown("# Sales report\nUnits *by region*"))
        current.card.append(Table([["north", 3], ["south", Artifact({"units": 5})]], headers=["region", "units"]))
        current.card.append(VegaChart(CHART))
        current.card.append(ProgressBar(max=10, value=7, label="Regions done"))
        current.card.append(ValueBox(title="Total units", value=10))
        current.card.append(Image(DOT, "a dot"))
        self.next(self.middle)

    @card(type="blank", id="first")
    @card(type="test_rows", id="custom", options={"prefix": "rows:"})
    @card(type="test_broken")
    @card(type="no_such_type", save_errors=False)
    @step
    def middle(self):
        current.card["first"].append(Markdown("first card"))
        current.card.append(Markdown("appended to the only card that takes components"))
        current.card["missing"].append(Markdown("never shown"))
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CardFlow()
