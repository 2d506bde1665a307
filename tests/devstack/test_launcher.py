def test_the_banners_example_query_is_valid_against_the_schema() -> None:
    from graphql import parse, validate

    from gateway.schema import schema
    from relint_devstack.launcher import EXAMPLE_QUERY

    assert validate(schema._schema, parse(EXAMPLE_QUERY % "cust-00001")) == []
