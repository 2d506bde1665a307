"""The identity rules on their own: which account and contact an item names, what is linked,
and when provisional accounts are merged."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.identity import (
    Account,
    IdentityBook,
    Person,
    UnknownCustomer,
    is_account_domain,
    names_of,
    normalise_domain,
)


def book(
    accounts: list[Account] | None = None,
    identifiers: dict[tuple[str, str], str] | None = None,
    contacts: list[Person] | None = None,
) -> IdentityBook:
    counter = itertools.count(1)
    return IdentityBook(
        accounts={a.id: a for a in accounts or []},
        identifiers=dict(identifiers or {}),
        contacts=list(contacts or []),
        new_id=lambda: f"new-{next(counter)}",
    )


def test_external_id_creates_once_and_then_finds() -> None:
    b = book()
    first, _ = b.resolve(names_of(external_id="acme", name="Acme"))
    again, _ = b.resolve(names_of(external_id="acme"))
    assert first == again == "new-1"
    assert [(a.external_id, a.name) for a in b.new_accounts()] == [("acme", "Acme")]


def test_unknown_own_id_is_refused() -> None:
    with pytest.raises(UnknownCustomer, match="no customer with id 'nope'"):
        book().resolve(names_of(customer_id="nope"))


def test_own_id_follows_a_merge_to_the_survivor() -> None:
    b = book([Account("old", None, merged_into="kept"), Account("kept", "acme")])
    assert b.resolve(names_of(customer_id="old"))[0] == "kept"


def test_email_creates_a_provisional_account_with_domain_and_contact() -> None:
    b = book()
    customer, contact = b.resolve(names_of(emails=["Ana@Northwind.example "]))
    assert b.accounts[customer].external_id is None
    assert b.links == [("domain", "northwind.example", customer)]
    [person] = b.new_contacts()
    assert (person.id, person.email, person.customer_id) == (
        contact,
        "ana@northwind.example",
        customer,
    )
    # A colleague's address finds the same account by its domain.
    other, _ = b.resolve(names_of(emails=["bo@northwind.example"]))
    assert other == customer


def test_public_mail_domains_never_stand_for_an_account() -> None:
    b = book()
    first, _ = b.resolve(names_of(emails=["ana@gmail.com"]))
    second, _ = b.resolve(names_of(emails=["bo@gmail.com"]))
    assert first != second
    assert b.links == []
    assert not is_account_domain("gmail.com")
    assert normalise_domain("@WWW.Acme.example.") == "acme.example"


def test_a_new_external_id_is_taken_by_the_provisional_account_it_arrives_with() -> None:
    b = book(
        [Account("prov", None)],
        identifiers={("domain", "acme.example"): "prov"},
    )
    customer, _ = b.resolve(names_of(external_id="ACME-1", domain="acme.example"))
    assert customer == "prov"
    assert b.adopted == {"prov": "ACME-1"}
    assert b.merges == []
    assert b.new_accounts() == []


def test_known_account_absorbs_a_provisional_one_with_a_recorded_reason() -> None:
    b = book(
        [Account("known", "acme"), Account("prov", None)],
        identifiers={("hubspot", "77"): "prov"},
        contacts=[Person("p1", "prov", "ana@acme.example", None)],
    )
    customer, contact = b.resolve(
        names_of(external_id="acme", ids=[("hubspot", "77")], emails=["ana@acme.example"])
    )
    assert (customer, contact) == ("known", "p1")
    [merge] = b.merges
    assert (merge.merged_id, merge.into_id) == ("prov", "known")
    assert merge.reason == "external id 'acme' and hubspot id '77' named the same account"
    assert b.identifiers[("hubspot", "77")] == "known"
    assert b.survivor("prov") == "known"


def test_two_known_accounts_are_never_merged_by_an_interaction() -> None:
    b = book(
        [Account("a", "acme"), Account("b", "globex")],
        identifiers={("domain", "globex.example"): "b"},
    )
    customer, _ = b.resolve(names_of(external_id="acme", domain="globex.example"))
    assert customer == "a"
    assert b.merges == []
    assert b.identifiers[("domain", "globex.example")] == "b"


def test_a_new_external_id_beside_a_known_account_makes_a_new_account() -> None:
    b = book([Account("b", "globex")], identifiers={("domain", "globex.example"): "b"})
    customer, _ = b.resolve(names_of(external_id="globex-uk", domain="globex.example"))
    assert customer == "new-1"
    assert b.accounts["new-1"].external_id == "globex-uk"
    assert b.adopted == {}
    assert b.merges == []


def test_a_contact_keeps_its_account_and_gains_what_it_lacked() -> None:
    b = book(
        [Account("a", "acme"), Account("b", "globex")],
        contacts=[Person("p1", "a", "ana@acme.example", None, "Ana")],
    )
    _, contact = b.resolve(
        names_of(
            external_id="globex",
            contact_email="ana@acme.example",
            contact_external_id="u-9",
            contact_name="Ana Lima",
        )
    )
    [person] = b.changed_contacts()
    assert (contact, person.customer_id, person.external_id, person.name) == (
        "p1",
        "a",
        "u-9",
        "Ana Lima",
    )


def test_placing_a_contact_moves_it_and_merges_its_provisional_account() -> None:
    b = book(
        [Account("prov", None), Account("acme", "acme")],
        contacts=[Person("p1", "prov", None, "u-1")],
    )
    b.place(names_of(contact_external_id="u-1"), "acme")
    assert b.survivor("prov") == "acme"
    assert b.merges[0].reason == "contact u-1 was placed at the account by its sender"


ids = st.sampled_from(["x1", "x2", "x3"])
item_names = st.builds(
    names_of,
    external_id=st.none() | st.sampled_from(["acme", "globex"]),
    ids=st.lists(st.tuples(st.just("crm"), ids), max_size=2),
    emails=st.lists(
        st.sampled_from(["a@acme.example", "b@globex.example", "c@gmail.com"]), max_size=2
    ),
    domain=st.none() | st.sampled_from(["acme.example", "globex.example"]),
    contact_external_id=st.none() | st.sampled_from(["u1", "u2"]),
).filter(lambda n: bool(n.external_id or n.ids or n.emails or n.domain or n.contact_external_id))


@given(st.lists(item_names, min_size=1, max_size=12))
def test_any_sequence_resolves_to_consistent_survivors(sequence: list[object]) -> None:
    b = book()
    resolved = [b.resolve(n) for n in sequence]  # type: ignore[arg-type]
    for customer, _ in resolved:
        assert b.survivor(customer) in b.accounts
    external = [a.external_id for a in b.accounts.values() if a.external_id]
    assert len(external) == len(set(external))  # one account per external id
    for (_, _), owner in b.identifiers.items():
        assert b.accounts[owner].merged_into is None  # links point at survivors
    for merge in b.merges:
        assert b.survivor(merge.merged_id) != merge.merged_id
    # Evidence that arrives later can merge more: passes over the same items converge, and
    # then every item resolves to the same survivor again.
    for _ in range(len(sequence) + 1):
        merges = len(b.merges)
        resolved = [b.resolve(n) for n in sequence]  # type: ignore[arg-type]
        if len(b.merges) == merges:
            break
    else:
        pytest.fail("resolution did not converge")
    again = [b.resolve(n)[0] for n in sequence]  # type: ignore[arg-type]
    assert again == [b.survivor(c) for c, _ in resolved]


def test_the_tenants_own_domains_never_stand_for_a_customer() -> None:
    b = book()
    b.own_domains = frozenset({"acme.example"})
    first, _ = b.resolve(names_of(external_id="c1", emails=["rep@acme.example"]))
    second, _ = b.resolve(names_of(emails=["boss@mail.acme.example"]))
    assert first != second
    assert b.links == []
