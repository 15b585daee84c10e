"""Every schema's examples validate; broken ones do not; orjson round trip."""
import pytest

import schemas
from schemas.log_event import LogEvent


@pytest.mark.parametrize("name", schemas.SCHEMA_NAMES)
def test_valid_examples_validate(name):
    examples = schemas.examples(name, "valid")
    assert examples
    for example in examples:
        schemas.validate(name, example)
        assert schemas.decode(schemas.encode(example)) == example


@pytest.mark.parametrize("name", schemas.SCHEMA_NAMES)
def test_invalid_examples_are_rejected_with_a_reason(name):
    for example in schemas.examples(name, "invalid"):
        with pytest.raises(schemas.SchemaError, match=name):
            schemas.validate(name, example)


@pytest.mark.parametrize("name", schemas.SCHEMA_NAMES)
def test_every_schema_requires_schema_version(name):
    assert "schema_version" in schemas.schema(name)["required"]


def test_log_event_model_round_trips_through_its_schema():
    for example in schemas.examples("log_event"):
        if example["timestamp"] is None:
            continue
        event = LogEvent.from_dict(example)
        again = event.to_dict()
        schemas.validate("log_event", again)
        assert LogEvent.from_dict(again) == event


@pytest.mark.parametrize("name", schemas.SCHEMA_NAMES)
def test_schema_files_are_valid_json_schema(name):
    from jsonschema import Draft7Validator

    Draft7Validator.check_schema(schemas.schema(name))
    for example in schemas.examples(name, "valid"):
        assert Draft7Validator(schemas.schema(name)).is_valid(example)
