"""Identity resolution: which customer (account) and which contact an interaction names.

Pure rules over what the database already knows of a batch's identifiers; the service loads
that knowledge, an `IdentityBook` decides, and the service writes back what the book
recorded (new accounts, adopted external ids, links, merges, contacts). The rules, also in
the README ("Identity resolution"):

1. `customer.id` names the account directly; an unknown id rejects the item.
2. `customer.external_id` (the tenant's own id) names it next. When that id is new and the
   strongest other identifier points at a provisional account (one without an external id),
   that account takes the id; otherwise a new account is created.
3. Then a source's id for the account (`customer.ids`), then a contact's email address
   (`customer.email`, `contact.email`), then the contact's user id, then the email domain
   (`customer.domain`, else the domain of the address; public mail domains never count).
4. Nothing known: a new account, provisional unless an external id was given.
5. Every identifier of the item that points at a *different provisional* account merges that
   account into the resolved one; the merge is recorded with its reason. Identifiers that
   belong to another account with an external id are left alone (two known accounts are
   only merged on request, through the admin API).
6. New identifiers are linked to the resolved account: source ids, the domain (when no one
   owns it), and the contact (created on first sight; attached if it had no account).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

DOMAIN_SCHEME = "domain"

# Mail providers whose domain says nothing about the account behind an address.
PUBLIC_EMAIL_DOMAINS = frozenset(
    {
        "aol.com",
        "gmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "googlemail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "icloud.com",
        "live.com",
        "mac.com",
        "mail.com",
        "mail.ru",
        "me.com",
        "msn.com",
        "outlook.com",
        "pm.me",
        "proton.me",
        "protonmail.com",
        "qq.com",
        "t-online.de",
        "web.de",
        "yahoo.com",
        "yahoo.co.uk",
        "yandex.ru",
        "zoho.com",
        "163.com",
        "126.com",
    }
)


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_domain(value: str) -> str:
    domain = value.strip().lower().removeprefix("@").rstrip(".")
    return domain.removeprefix("www.")


def email_domain(address: str) -> str:
    return normalise_domain(address.rpartition("@")[2])


def is_account_domain(domain: str) -> bool:
    """Whether a domain can stand for an account (not a public mail provider)."""
    return "." in domain and domain not in PUBLIC_EMAIL_DOMAINS


def is_own_domain(domain: str, own_domains: Iterable[str]) -> bool:
    """Whether a domain is one of the company's own, or a subdomain of one."""
    return any(domain == own or domain.endswith("." + own) for own in own_domains)


class UnknownCustomer(LookupError):
    """An item named a customer id that the tenant does not have."""


@dataclass
class Account:
    id: str
    external_id: str | None
    name: str = ""
    merged_into: str | None = None
    new: bool = False


@dataclass
class Person:
    id: str
    customer_id: str | None
    email: str | None
    external_id: str | None
    name: str = ""
    new: bool = False
    changed: bool = False
    traits: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Names:
    """The identifiers one item carries, normalised."""

    customer_id: str | None = None
    external_id: str | None = None
    name: str | None = None
    ids: tuple[tuple[str, str], ...] = ()
    emails: tuple[str, ...] = ()
    domain: str | None = None
    contact_email: str | None = None
    contact_external_id: str | None = None
    contact_name: str | None = None

    @property
    def contact_address(self) -> str | None:
        return self.contact_email or (self.emails[0] if self.emails else None)

    @cached_property
    def account_domain(self) -> str | None:
        for candidate in (self.domain, *(email_domain(e) for e in self.emails)):
            if candidate and is_account_domain(candidate):
                return candidate
        return None

    def identifiers(self) -> list[tuple[str, str]]:
        """The (scheme, value) pairs to look up in the identifier table."""
        pairs = list(self.ids)
        if self.account_domain:
            pairs.append((DOMAIN_SCHEME, self.account_domain))
        return pairs

    @property
    def is_plain(self) -> bool:
        """Named by external id alone: the common case, resolved without other lookups."""
        return bool(self.external_id) and not (
            self.customer_id
            or self.ids
            or self.emails
            or self.domain
            or self.contact_email
            or self.contact_external_id
        )


@dataclass(frozen=True)
class Merge:
    merged_id: str
    into_id: str
    reason: str


@dataclass
class IdentityBook:
    """What is known of a tenant's identities for one batch; resolves items one by one and
    records every change, so that later items of the batch see what earlier ones created."""

    accounts: dict[str, Account]
    identifiers: dict[tuple[str, str], str]
    contacts: list[Person]
    new_id: Callable[[], str]
    # The tenant's own mail domains: its employees' addresses name no customer.
    own_domains: frozenset[str] = frozenset()
    adopted: dict[str, str] = field(default_factory=dict)
    links: list[tuple[str, str, str]] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_external = {a.external_id: a.id for a in self.accounts.values() if a.external_id}
        self._by_email = {p.email: p for p in self.contacts if p.email}
        self._by_user = {p.external_id: p for p in self.contacts if p.external_id}

    # Reads

    def survivor(self, customer_id: str) -> str:
        seen = set()
        while (merged := self.accounts[customer_id].merged_into) is not None:
            if customer_id in seen:  # pragma: no cover - merges never form a cycle
                raise RuntimeError(f"merge cycle at customer {customer_id}")
            seen.add(customer_id)
            customer_id = merged
        return customer_id

    def new_accounts(self) -> list[Account]:
        return [a for a in self.accounts.values() if a.new]

    def changed_contacts(self) -> list[Person]:
        return [p for p in self._by_id_contacts() if p.changed and not p.new]

    def new_contacts(self) -> list[Person]:
        return [p for p in self._by_id_contacts() if p.new]

    def _by_id_contacts(self) -> list[Person]:
        people = {id(p): p for p in (*self._by_email.values(), *self._by_user.values())}
        return list(people.values())

    # Resolution

    def resolve(self, names: Names) -> tuple[str, str | None]:
        """The surviving customer id and the contact id (if the item names one)."""
        if names.customer_id is not None:
            if names.customer_id not in self.accounts:
                raise UnknownCustomer(f"no customer with id {names.customer_id!r}")
            primary, label = self.survivor(names.customer_id), f"customer id {names.customer_id}"
        elif names.external_id and names.external_id in self._by_external:
            primary = self.survivor(self._by_external[names.external_id])
            label = f"external id {names.external_id!r}"
        else:
            primary, label = "", ""
        found = self._found(names)
        if not primary:
            primary, label = self._choose(names, found)
        for other_label, found_id in found:
            other = self.survivor(found_id)  # an earlier merge may have taken it already
            if other != primary and self.accounts[other].external_id is None:
                self._merge(other, primary, f"{label} and {other_label} named the same account")
        if names.name and self.accounts[primary].name != names.name:
            self.accounts[primary].name = names.name
        self._link(names, primary)
        return primary, self._contact(names, primary)

    def _found(self, names: Names) -> list[tuple[str, str]]:
        """Accounts the weaker identifiers point at, strongest first."""
        found: list[tuple[str, str]] = []
        for scheme, value in names.ids:
            if (scheme, value) in self.identifiers:
                found.append((f"{scheme} id {value!r}", self.identifiers[(scheme, value)]))
        for address in (*names.emails, names.contact_email):
            person = self._by_email.get(address) if address else None
            if person is not None and person.customer_id:
                found.append((f"contact {address}", person.customer_id))
        user = names.contact_external_id
        person = self._by_user.get(user) if user else None
        if person is not None and person.customer_id:
            found.append((f"contact user {user!r}", person.customer_id))
        domain = self._domain(names)
        if domain and (DOMAIN_SCHEME, domain) in self.identifiers:
            found.append((f"domain {domain}", self.identifiers[(DOMAIN_SCHEME, domain)]))
        return [(label, self.survivor(customer)) for label, customer in found]

    def _choose(self, names: Names, found: list[tuple[str, str]]) -> tuple[str, str]:
        if names.external_id:
            label = f"external id {names.external_id!r}"
            if found and self.accounts[found[0][1]].external_id is None:
                account = self.accounts[found[0][1]]
                account.external_id = names.external_id
                self._by_external[names.external_id] = account.id
                if not account.new:
                    self.adopted[account.id] = names.external_id
                return account.id, label
            return self._create(names.external_id, names.name), label
        if found:
            return found[0][1], found[0][0]
        return self._create(None, names.name), "new account"

    def _create(self, external_id: str | None, name: str | None) -> str:
        account = Account(self.new_id(), external_id, name or "", new=True)
        self.accounts[account.id] = account
        if external_id:
            self._by_external[external_id] = account.id
        return account.id

    def _merge(self, merged: str, into: str, reason: str) -> None:
        self.accounts[merged].merged_into = into
        for account in self.accounts.values():
            if account.merged_into == merged:
                account.merged_into = into
        for key, customer in self.identifiers.items():
            if customer == merged:
                self.identifiers[key] = into
        for person in self._by_id_contacts():
            if person.customer_id == merged:
                person.customer_id = into
        self.merges.append(Merge(merged, into, reason))

    def _domain(self, names: Names) -> str | None:
        domain = names.account_domain
        if domain is None or is_own_domain(domain, self.own_domains):
            return None
        return domain

    def _link(self, names: Names, customer: str) -> None:
        for key in names.identifiers():
            if key[0] == DOMAIN_SCHEME and self._domain(names) is None:
                continue
            if key not in self.identifiers:
                self.identifiers[key] = customer
                self.links.append((key[0], key[1], customer))

    def _contact(self, names: Names, customer: str | None) -> str | None:
        address, user = names.contact_address, names.contact_external_id
        if not address and not user:
            return None
        person = (self._by_email.get(address) if address else None) or (
            self._by_user.get(user) if user else None
        )
        if person is None:
            person = Person(self.new_id(), customer, address, user, names.contact_name or "")
            person.new = True
        else:
            self._complete(person, address, user, names.contact_name)
            if person.customer_id is None and customer is not None:
                person.customer_id, person.changed = customer, True
        if person.email:
            self._by_email[person.email] = person
        if person.external_id:
            self._by_user[person.external_id] = person
        return person.id

    def _complete(
        self, person: Person, address: str | None, user: str | None, name: str | None
    ) -> None:
        """Fills in what a known contact lacked, unless another contact already holds it."""
        if address and not person.email and address not in self._by_email:
            person.email, person.changed = address, True
        if user and not person.external_id and user not in self._by_user:
            person.external_id, person.changed = user, True
        if name and name != person.name:
            person.name, person.changed = name, True

    def contact(self, names: Names, traits: dict[str, Any] | None = None) -> str | None:
        """Creates or completes a contact without placing it at an account (Segment
        `identify`); its traits are merged into the ones it had."""
        contact_id = self._contact(names, None)
        if contact_id is not None and traits:
            person = self._person(contact_id)
            person.traits, person.changed = {**person.traits, **traits}, True
        return contact_id

    def place(self, person_names: Names, customer: str) -> str:
        """Puts a contact at an account on the sender's word (Segment `group`): it moves there,
        and the provisional account it was at, if any, is merged into that account."""
        contact_id = self._contact(person_names, customer)
        if contact_id is None:
            raise ValueError("place() needs a contact email or user id")
        person = self._person(contact_id)
        current = self.survivor(person.customer_id) if person.customer_id else None
        if current is not None and current != customer:
            if self.accounts[current].external_id is None:
                who = person.email or person.external_id
                reason = f"contact {who} was placed at the account by its sender"
                self._merge(current, customer, reason)
            person.customer_id, person.changed = customer, True
        return contact_id

    def alias(self, previous_id: str, user_id: str) -> bool:
        """The contact known as previous_id is known as user_id from now on (Segment `alias`).
        False when there is no such contact or another one already has user_id."""
        person = self._by_user.get(previous_id)
        if person is None or user_id in self._by_user:
            return False
        del self._by_user[previous_id]
        person.external_id, person.changed = user_id, True
        self._by_user[user_id] = person
        return True

    def _person(self, contact_id: str) -> Person:
        return next(p for p in self._by_id_contacts() if p.id == contact_id)


@dataclass(frozen=True)
class ContactUpdate:
    """What a sender says about a person, outside any interaction (Segment `identify`,
    `group`, `alias`): the person, the account they are at, their traits, a former id."""

    contact: Names
    account: Names | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    previous_id: str | None = None

    def names(self) -> list[Names]:
        """Everything to look up before applying it."""
        found = [self.contact, *([self.account] if self.account else [])]
        if self.previous_id:
            found.append(Names(contact_external_id=self.previous_id))
        return found

    def apply(self, book: IdentityBook) -> None:
        if self.previous_id and self.contact.contact_external_id:
            book.alias(self.previous_id, self.contact.contact_external_id)
            return
        if self.account is not None:
            customer, _ = book.resolve(self.account)
            book.place(self.contact, customer)
        book.contact(self.contact, self.traits)


def names_of(
    customer_id: str | None = None,
    external_id: str | None = None,
    name: str | None = None,
    ids: Iterable[tuple[str, str]] = (),
    emails: Iterable[str] = (),
    domain: str | None = None,
    contact_email: str | None = None,
    contact_external_id: str | None = None,
    contact_name: str | None = None,
) -> Names:
    """Names with every identifier normalised."""
    return Names(
        customer_id=customer_id,
        external_id=external_id,
        name=name,
        ids=tuple(sorted(set(ids))),
        emails=tuple(dict.fromkeys(normalise_email(e) for e in emails)),
        domain=normalise_domain(domain) if domain else None,
        contact_email=normalise_email(contact_email) if contact_email else None,
        contact_external_id=contact_external_id,
        contact_name=contact_name,
    )
