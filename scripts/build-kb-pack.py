#!/usr/bin/env python3
"""Builds the e-commerce help centre pack (packs/kb/ecommerce/) from the Bitext customer-support
sample: one help article per intent, written from Bitext's answers, and an evaluation set of
customer questions whose rows were not used to write any article.

Reproducible: a fixed seed, sorted output, no timestamps; running it twice gives identical files.
Python 3 standard library only.

    python3 scripts/build-kb-pack.py [--source PATH] [--out DIR]
"""

import argparse
import csv
import json
import random
import re
from pathlib import Path

SEED = 7
DEV_PER_INTENT = 10
TEST_PER_INTENT = 20
DEFAULT_SOURCE = (
    "../shared/data/bitext-customer-support/Bitext_Sample_Customer_Support_Training_Dataset.csv"
)
SOURCE_NOTE = (
    "Bitext customer-support dataset (c) Bitext Innovations, licensed under the Community Data "
    "License Agreement - Sharing, Version 1.0 (https://cdla.dev/sharing-1-0/). Articles are "
    "edited from the dataset's answers and the questions are its `instruction` column verbatim; "
    "this derived data is shared under the same agreement."
)

# A natural help-centre title per intent (written by hand; the only text not from Bitext).
TITLES = {
    "cancel_order": "How to cancel an order",
    "change_order": "Changing the items in an order",
    "change_shipping_address": "Changing the shipping address of an order",
    "check_cancellation_fee": "Cancellation fees",
    "check_invoice": "Viewing your invoices",
    "check_payment_methods": "Payment methods we accept",
    "check_refund_policy": "Our refund policy",
    "complaint": "How to file a complaint",
    "contact_customer_service": "Contacting customer service",
    "contact_human_agent": "Talking to a person",
    "create_account": "Creating an account",
    "delete_account": "Deleting your account",
    "delivery_options": "Delivery options",
    "delivery_period": "How long delivery takes",
    "edit_account": "Editing your account details",
    "get_invoice": "Getting a copy of an invoice",
    "get_refund": "Requesting a refund",
    "newsletter_subscription": "Subscribing to the newsletter",
    "payment_issue": "Problems with a payment",
    "place_order": "How to place an order",
    "recover_password": "Recovering your password",
    "registration_problems": "Problems signing up",
    "review": "Leaving a review or feedback",
    "set_up_shipping_address": "Adding a shipping address",
    "switch_account": "Switching between accounts",
    "track_order": "Tracking an order",
    "track_refund": "Tracking a refund",
}

# Placeholders with neutral wording. Determiner-swallowing ones ("our {{Website Name}}") are
# rewritten with the determiner they bring.
WEBSITE = {
    "Website Name", "Website", "website", "Website URL", "Company Website", "Service Website",
    "Website or App", "Website/App Name", "Website Name Anonymized",
}
PHONE = {
    "Customer Support Phone Number", "Support Phone Number", "Customer Service Phone Number",
    "customer support phone number", "Customer Support Phone Number Anonymized",
    "Customer Assistance Phone Number", "Complaint Phone Number",
}
EMAIL = {
    "Customer Support Email", "Customer Support Email Address", "Support Email",
    "Customer Service Email", "Customer Service Email Address", "Support Email Address",
    "Email Support",
}
HOURS = {
    "Customer Support Availability", "Customer Support Hours", "Customer Service Hours",
    "Operating Hours", "Support Team Availability", "Customer Assistance Hours",
}
CHAT = {"Live Chat", "live chat", "Chat"}
APP = {"Mobile App", "Mobile App Name"}
# Answers mentioning a specific order, person or template instruction are not article material.
SPECIFIC = re.compile(r"\{\{([^}]*(Anonymized|Number|number|ID|Date)[^}]*|[0-9A-F]{8,}|[a-z][^}]*)\}\}")
# Some answers carry template slots in square brackets ("[Business Hours]").
BRACKETED = re.compile(r"\[[A-Z][^\]]*\]")
PLACEHOLDER = re.compile(r"\{\{([^}]*)\}\}")
NUMBERED = re.compile(r"^\s*\d+[.)]\s", re.M)
OPENER = re.compile(r"^(Certainly|Absolutely|Of course|Sure|Definitely|Great)[!.,]\s*")
WORD = re.compile(r"[a-z0-9']+")


def neutral_ids(text):
    """Only the identifiers made neutral: what is left decides whether an answer is generic."""
    return neutral(text, ids_only=True)


def neutral(text, ids_only=False):
    """Turns the {{Placeholder}} tokens, and the order numbers some answers quote, into neutral
    text."""
    x = r"(?:#\s*)?(?:\d{5,}|\{\{(?:[0-9A-F]+|(?:Order|Purchase|Invoice|Bill)[^}]*(?:Number|ID|Anonymized))\}\})"
    text = re.sub(
        rf"\b(?:the |your )?(order|purchase|invoice|bill|tracking)\s+(?:number|ID|no\.)\s*:?\s*{x}",
        r"your \1 number",
        text,
    )
    text = re.sub(rf"\b(?:the |your )?number\s+{x}", "your order number", text)
    text = re.sub(
        rf"\b(?:the |your )?(?:purchase |order )?(order|purchase|invoice|bill)\s+{x}", r"your \1", text
    )
    text = re.sub(x, "your order number", text)
    if ids_only:
        return text
    det = r"(?:\b(?:our|your|the)\s+)?"

    def names(group):
        return "|".join(re.escape(g) for g in sorted(group, key=len, reverse=True))

    w = names(WEBSITE)
    text = re.sub(rf"\bour website,?\s*\{{\{{(?:{w})\}}\}}", "our website", text)
    text = re.sub(rf"{det}\{{\{{(?:{w})\}}\}}\s+account", "your account", text)
    text = re.sub(rf"{det}\{{\{{(?:{w})\}}\}}", "our website", text)
    p = names(PHONE)
    text = re.sub(rf"\b(number|line),?\s*\{{\{{(?:{p})\}}\}},?", r"\1", text)
    text = re.sub(rf"{det}\{{\{{(?:{p})\}}\}}", "our customer support phone number", text)
    e = names(EMAIL)
    text = re.sub(rf"\b(address),?\s*\{{\{{(?:{e})\}}\}},?", r"\1", text)
    text = re.sub(rf"{det}\{{\{{(?:{e})\}}\}}", "our customer support email address", text)
    h = names(HOURS)
    text = re.sub(rf"\b(?:during|from|on|at)\s+\{{\{{(?:{h})\}}\}}", "during business hours", text)
    text = re.sub(rf"{det}\{{\{{(?:{h})\}}\}}", "during business hours", text)
    text = re.sub(rf"\{{\{{(?:{names(CHAT)})\}}\}}", "live chat", text)
    text = re.sub(rf"{det}\{{\{{(?:{names(APP)})\}}\}}", "our app", text)
    text = re.sub(r"\bAt \{\{Company Name\}\},\s*(\w)", lambda m: m.group(1).upper(), text)
    text = re.sub(rf"{det}\{{\{{Company Name\}}\}}", "us", text)
    # What remains are names of buttons, menus and pages: shown in bold, as help centres do.
    text = PLACEHOLDER.sub(lambda m: "**" + m.group(1).strip() + "**", text)
    return text


def tidy(answer):
    """An answer as article prose: placeholders neutral, a bare opener ("Certainly!") dropped,
    whitespace regular."""
    text = neutral(answer.replace("\r\n", "\n")).strip()
    text = OPENER.sub("", text)
    lines = [re.sub(r"[ \t]+", " ", line).rstrip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text[:1].upper() + text[1:]


def words(text):
    return frozenset(WORD.findall(text.lower()))


def jaccard(a, b):
    return len(a & b) / len(a | b) if a or b else 0.0


def medoid(candidates, sets):
    """The candidate most similar on average to the others (ties: the first)."""
    best, best_score = None, -1.0
    for i in candidates:
        score = sum(jaccard(sets[i], sets[j]) for j in candidates if j != i)
        if score > best_score:
            best, best_score = i, score
    return best


def build(source, out):
    with open(source, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_intent = {}
    for i, row in enumerate(rows):
        by_intent.setdefault(row["intent"].strip(), []).append(i)
    if set(by_intent) != set(TITLES):
        raise SystemExit(f"intents differ from the titles: {sorted(set(by_intent) ^ set(TITLES))}")

    articles_dir = out / "articles"
    articles_dir.mkdir(parents=True, exist_ok=True)
    for stale in articles_dir.glob("*.md"):
        stale.unlink()
    splits = {"dev": [], "test": []}
    for intent in sorted(by_intent):
        order = list(by_intent[intent])
        random.Random(f"{SEED}:{intent}").shuffle(order)
        # Evaluation rows first, one per distinct question; every other row may write the article.
        seen, evaluation = set(), []
        for i in order:
            q = " ".join(rows[i]["instruction"].split())
            if q.lower() in seen:
                continue
            seen.add(q.lower())
            evaluation.append((i, q))
            if len(evaluation) == DEV_PER_INTENT + TEST_PER_INTENT:
                break
        # Rows asking an evaluation question (also its repeats) write nothing.
        asked = {q.lower() for _, q in evaluation}
        held_out = {i for i in order if " ".join(rows[i]["instruction"].split()).lower() in asked}
        for _, q in evaluation[:DEV_PER_INTENT]:
            splits["dev"].append({"question": q, "article": intent})
        for _, q in evaluation[DEV_PER_INTENT:]:
            splits["test"].append({"question": q, "article": intent})

        writers = sorted(i for i in by_intent[intent] if i not in held_out)
        clean = [
            i
            for i in writers
            if not SPECIFIC.search(neutral_ids(rows[i]["response"]))
            and not BRACKETED.search(rows[i]["response"])
        ]
        sets = {i: words(tidy(rows[i]["response"])) for i in clean}
        procedures = [i for i in clean if len(NUMBERED.findall(rows[i]["response"])) >= 2]
        # The most typical answer with steps when a third of the answers or more give steps, else
        # the most typical answer.
        first_pool = procedures if len(procedures) * 3 >= len(clean) else clean
        first = medoid(first_pool, sets)
        # Then the most typical of the answers that say it differently (the quarter of them that
        # overlap least with the first).
        others = [i for i in clean if i != first]
        sims = sorted(jaccard(sets[first], sets[i]) for i in others)
        quartile = sims[len(sims) // 4]
        second = medoid([i for i in others if jaccard(sets[first], sets[i]) <= quartile], sets)

        def heading(i, default):
            return "Step by step" if len(NUMBERED.findall(rows[i]["response"])) >= 2 else default

        second_heading = (
            "Another way to do it" if heading(second, "") == "Step by step" else "Good to know"
        )
        body = [
            f"# {TITLES[intent]}",
            "",
            f"## {heading(first, 'Overview')}",
            "",
            tidy(rows[first]["response"]),
            "",
            f"## {second_heading}",
            "",
            tidy(rows[second]["response"]),
            "",
        ]
        (articles_dir / f"{intent}.md").write_text("\n".join(body), encoding="utf-8")

    pack = {"source": SOURCE_NOTE, "articles_dir": "articles", "splits": splits}
    (out / "eval.json").write_text(
        json.dumps(pack, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(
        f"{len(by_intent)} articles, {len(splits['dev'])} dev and {len(splits['test'])} test "
        f"questions in {out}"
    )


def main():
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=root / DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=root / "packs" / "kb" / "ecommerce")
    args = parser.parse_args()
    build(args.source, args.out)


if __name__ == "__main__":
    main()
