# ruff: noqa
# A component as users write it for seldon-core: an answer with values JSON has no type
# for, which seldon-core's flask jsonify writes all the same.
import dataclasses
import datetime
import decimal
import uuid


@dataclasses.dataclass
class Score:
    label: str
    value: float


class FlaskTypes:
    def predict(self, X, features_names=None):
        return {
            0: {"day": datetime.date(2020, 1, 2)},
            1: {
                "at": datetime.datetime(
                    2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=8))
                )
            },
            2: {"at": datetime.datetime(2020, 1, 2, 3, 4, 5)},
            3: {"price": decimal.Decimal("1.50")},
            4: {"id": uuid.UUID("12345678-1234-5678-1234-567812345678")},
            5: {"score": Score("cat", 0.9)},
            6: {"no": {1, 2}},
        }[int(X[0])]
