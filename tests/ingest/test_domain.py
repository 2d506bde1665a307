from decimal import Decimal

import pytest

from ingest import domain


def test_issued_key_has_prefix_and_only_its_hash_is_kept() -> None:
    issued = domain.issue_key("pepper")
    assert issued.raw.startswith("rik_")
    lookup_id, secret = domain.parse_key(issued.raw) or ("", "")
    assert lookup_id == issued.lookup_id
    assert secret not in issued.secret_hash
    assert domain.secret_matches(secret, issued.secret_hash, "pepper")


def test_a_hash_is_useless_without_the_pepper() -> None:
    issued = domain.issue_key("pepper")
    _, secret = domain.parse_key(issued.raw) or ("", "")
    assert not domain.secret_matches(secret, issued.secret_hash, "another pepper")


@pytest.mark.parametrize(
    "raw", ["", "rik_", "sk_0123456789abcdef_x", "rik_short_secret", "rik_0123456789abcdef_"]
)
def test_malformed_keys_do_not_parse(raw: str) -> None:
    assert domain.parse_key(raw) is None


def test_scopes_are_checked() -> None:
    assert domain.validate_scopes(["graph:read", "ingest:write", "graph:read"]) == [
        "graph:read",
        "ingest:write",
    ]
    with pytest.raises(ValueError, match="unknown scopes"):
        domain.validate_scopes(["root"])
    with pytest.raises(ValueError, match="at least one"):
        domain.validate_scopes([])


def test_kind_must_belong_to_its_channel_or_be_mapped() -> None:
    mapping = {("service", "Case Created"): "ticket_opened"}
    assert domain.mapped_kind("service", "ticket_opened", {}) == ("ticket_opened", None)
    assert domain.mapped_kind("service", "Case Created", mapping) == ("ticket_opened", None)
    kind, problem = domain.mapped_kind("sales", "Case Created", mapping)
    assert kind is None
    assert problem is not None
    assert "'Case Created' is not a kind of channel 'sales'" in problem
    assert "purchase" in problem


def test_a_mapping_table_is_checked_whole() -> None:
    assert domain.mapping_errors([("service", "Case Created", "ticket_opened")]) == []
    problems = domain.mapping_errors(
        [
            ("service", "Case Created", "ticket_opened"),
            ("service", "Case Created", "complaint"),
            ("telepathy", "x", "y"),
            ("sales", "Deal Won", "ticket_opened"),
            ("sales", "purchase", "renewal"),
        ]
    )
    assert problems == [
        "mappings[1]: 'Case Created' of 'service' is mapped twice",
        "mappings[2].channel: unknown channel 'telepathy'",
        "mappings[3].kind: 'ticket_opened' is not a kind of channel 'sales'; allowed: "
        + ", ".join(domain.KINDS["sales"]),
        "mappings[4].source_kind: 'purchase' is already canonical",
    ]


def test_money_goes_together() -> None:
    assert domain.money_error(None, None, None) is None
    assert domain.money_error(Decimal("1"), "revenue", "EUR") is None
    assert "together" in (domain.money_error(Decimal("1"), None, "EUR") or "")
    assert "negative" in (domain.money_error(Decimal("-1"), "refund", "EUR") or "")


def test_micros_round_trip_exactly() -> None:
    amount = Decimal("1234567.891234")
    assert domain.from_micros(domain.to_micros(amount)) == amount
