"""A seeded generator of customer-support tickets for the `intent` models, the demo and benchmarks.

Tickets are assembled from per-queue problem templates, filled slots (order numbers, amounts,
devices, dates) and queue-neutral filler (greetings, context, sign-offs). About one ticket in
eight also mentions a second, unrelated topic in passing, so the classes overlap a little and a
model has something to learn beyond keyword lookup.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

V1_QUEUES: tuple[str, ...] = (
    "billing",
    "refunds",
    "login",
    "shipping",
    "technical",
    "account",
    "cancellation",
    "security",
)
"""The queues `intent` version 1 is trained on."""

QUEUES: tuple[str, ...] = (*V1_QUEUES, "privacy", "feedback")
"""Every queue; `intent` version 2 also knows `privacy` and `feedback`."""

_PROBLEMS: dict[str, tuple[str, ...]] = {
    "billing": (
        "I was charged twice for my subscription this month",
        "my invoice {order} shows the wrong amount of {amount}",
        "why did my card get billed {amount} on {date}",
        "please update the billing address on my invoices",
        "the VAT number is missing from invoice {order}",
        "I need a copy of last month's invoice for my accountant",
        "my payment method was declined but the plan still shows as unpaid",
        "the price on my bill went up to {amount} without notice",
        "can you switch my billing from monthly to yearly",
        "there is an unexpected charge of {amount} on my statement",
    ),
    "refunds": (
        "I would like a refund for order {order}",
        "I returned the item two weeks ago and still have not received my money back",
        "when will the refund of {amount} reach my bank account",
        "please refund the {amount} you took for the damaged {product}",
        "the refund for {order} was only partial, I expected {amount}",
        "I want my money back, the {product} never worked",
        "you promised a refund on {date} but nothing has arrived",
        "how long does a refund take to show up on my card",
        "please reverse the payment for the {product} I sent back",
    ),
    "login": (
        "I cannot log in to my account since {date}",
        "the password reset email never arrives",
        "it says my password is incorrect even after resetting it",
        "I am locked out after too many sign in attempts",
        "the login page keeps loading forever on {browser}",
        "my two factor code is rejected when I try to sign in",
        "I forgot my username and cannot sign in",
        "the sign in button does nothing on the {device} app",
        "after logging in I get sent straight back to the login screen",
    ),
    "shipping": (
        "my parcel {order} has not arrived yet",
        "the tracking number for {order} does not work",
        "the courier says the package was delivered but I never got it",
        "can I change the delivery address for order {order}",
        "my {product} has been stuck in transit since {date}",
        "how much is express delivery to Canada",
        "the package arrived with the box crushed and the {product} missing",
        "tracking has not updated for a week, where is my shipment",
        "the delivery was supposed to come on {date} but it is late",
    ),
    "technical": (
        "the {device} app crashes every time I open it",
        "I get error {code} when I upload a file",
        "the sync between my {device} and the website is broken",
        "the page shows a blank screen on {browser}",
        "the export to CSV fails with a timeout",
        "notifications stopped working on my {device}",
        "the API returns error {code} for every request since {date}",
        "the {product} firmware update failed halfway and now it will not boot",
        "search results are empty even though I have data",
        "the dashboard is extremely slow and charts never load",
    ),
    "account": (
        "please change the email address on my account",
        "how do I add a second user to my team account",
        "I want to change my username and display name",
        "can you merge my two accounts into one",
        "I need to update my phone number in my profile",
        "how do I transfer account ownership to a colleague",
        "please upgrade my account to the business plan",
        "my profile picture and name do not save",
        "I would like to change the company name on my account",
    ),
    "cancellation": (
        "please cancel my subscription",
        "I want to cancel order {order} before it ships",
        "how do I stop my plan from renewing on {date}",
        "cancel my membership at the end of this billing period",
        "I no longer need the service, please terminate my contract",
        "I tried to cancel online but the cancel button is missing",
        "please do not renew my plan next month",
        "I want to end my trial before it converts to a paid plan",
        "cancel the {product} I ordered by mistake",
    ),
    "security": (
        "someone logged into my account from another country",
        "I received a phishing email pretending to be from you",
        "there are orders on my account that I did not place",
        "I think my account was hacked, the email address was changed",
        "I got a security alert about a new device I do not recognise",
        "my card details may have been stolen after buying the {product}",
        "please check suspicious activity on my account since {date}",
        "someone is trying to reset my password without my permission",
        "I want to report a vulnerability in your website",
    ),
    "privacy": (
        "please delete all my personal data under GDPR",
        "I want a copy of all the data you hold about me",
        "stop sharing my information with third party advertisers",
        "please remove my data from your marketing lists",
        "what personal data do you store and for how long",
        "I withdraw my consent for data processing",
        "please erase my history and personal records",
        "I want to opt out of tracking cookies and data collection",
    ),
    "feedback": (
        "I love the new design, great job",
        "it would be nice if the app had a dark mode",
        "your support agent was really helpful, thanks",
        "suggestion: please add an export to PDF feature",
        "the new update is much nicer than the old version",
        "I wanted to say the {product} is excellent",
        "feature request: let me schedule reports weekly",
        "just some feedback, the onboarding was confusing",
    ),
}

_SLOTS: dict[str, tuple[str, ...]] = {
    "product": ("headphones", "blender", "laptop stand", "smart watch", "coffee maker", "router"),
    "device": ("iPhone", "Android phone", "iPad", "Windows laptop", "Mac", "tablet"),
    "browser": ("Chrome", "Firefox", "Safari", "Edge"),
    "date": ("Monday", "Tuesday", "the 3rd", "last Friday", "yesterday", "the 15th of March"),
}

_GREETINGS: tuple[str, ...] = ("", "", "Hi,", "Hello,", "Hello team,", "Dear support,", "Hey there,")
_CONTEXT: tuple[str, ...] = (
    "",
    "",
    "",
    "I have been a customer for three years.",
    "This is the second time I write about this.",
    "I already contacted you by chat.",
    "My customer number is {number}.",
    "It is quite urgent.",
)
_CLOSINGS: tuple[str, ...] = (
    "",
    "",
    "Thanks.",
    "Thank you!",
    "Regards, {name}",
    "Best, {name}",
    "Please help.",
)
_NAMES: tuple[str, ...] = ("Anna", "Ben", "Chen", "Dana", "Eli", "Fatima", "Goran", "Hiro")

_MENTION_RATE = 0.12


def generate_tickets(n: int, seed: int, queues: Sequence[str] = QUEUES) -> list[tuple[str, str]]:
    """Return `n` (text, queue) tickets drawn uniformly over `queues`, the same for the same seed."""
    unknown = [queue for queue in queues if queue not in _PROBLEMS]
    if unknown or not queues:
        raise ValueError(f"unknown or empty queues: {unknown or queues!r}")
    rng = np.random.default_rng(seed)
    return [_ticket(rng, queues[int(rng.integers(len(queues)))]) for _ in range(n)]


def _ticket(rng: np.random.Generator, queue: str) -> tuple[str, str]:
    parts = [
        _pick(rng, _GREETINGS),
        _sentence(_fill(rng, _pick(rng, _PROBLEMS[queue]))),
        _fill(rng, _pick(rng, _CONTEXT)),
    ]
    if rng.random() < _MENTION_RATE:
        other = _pick(rng, tuple(q for q in V1_QUEUES if q != queue))
        parts.append("Also, unrelated: " + _sentence(_fill(rng, _pick(rng, _PROBLEMS[other]))))
    parts.append(_fill(rng, _pick(rng, _CLOSINGS)))
    text = " ".join(part for part in parts if part)
    return (text.lower() if rng.random() < 0.1 else text), queue


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + "."


def _fill(rng: np.random.Generator, template: str) -> str:
    values = {slot: _pick(rng, options) for slot, options in _SLOTS.items()}
    values["order"] = f"#{rng.integers(100_000, 999_999)}"
    values["amount"] = f"${rng.integers(5, 500)}.{rng.integers(0, 100):02d}"
    values["code"] = str(int(rng.integers(400, 600)))
    values["number"] = str(int(rng.integers(10_000, 99_999)))
    values["name"] = _pick(rng, _NAMES)
    return template.format(**values)
