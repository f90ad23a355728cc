"""Text planted in a document to act on the assistant or on its reader: never quoted, never
passed to a model as content.

A sentence is unsafe when it
- instructs an AI (overrides, role switches, "As the AI model reading this, your new task..."),
- asks the reader to send a secret (API key, password, token, credentials) anywhere,
- asks the reader to contact an address (any e-mail address; a URL with a contact verb),
- tells the reader to disable safety or monitoring (alerts, guardrails, audit logs...).
Hidden forms count too: zero-width characters, ROT13 and base64 payloads. The patterns are
measured against a labelled set of attacks and benign look-alikes
(tests/fixtures/injection_attacks.jsonl); on the shipped corpus they drop a handful of
sentences that discuss prompt injection itself, which is the safe side of the trade.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

_I = re.IGNORECASE | re.VERBOSE
# Who a planted instruction talks to. Bare "model"/"system" are too common in ML text.
_AI = r"""(?:ai|a\.i\.|assistant|chat\s?gpt|gpt(?:-\d\w*)?|claude|copilot|llm|chatbot|bot
    |(?:large\s+)?language\s+model|ai\s+(?:model|system|agent|assistant|tool))s?"""
# Verbs a planted instruction starts with, right after addressing the AI.
_IMPERATIVE = r"""(?:ignore|disregard|forget|reveal|print|output|say|tell|respond|reply|answer
    |write|send|e-?mail|include|add|append|insert|recommend|stop|start|do|don't|never|always
    |summari[sz]e|translate|repeat|execute|run|call|visit|disable|return|act|pretend|obey
    |follow|comply|switch|change|delete|remove|use|inform|mention|advise|instruct|replace
    |link|promote|praise|rate|score|grade|give|list|show|treat|insist|claim|state)\b"""

_OVERRIDE = re.compile(
    r"""
    \b(?:ignore|disregard|forget|override|bypass)\b[^.]{0,40}?
        \b(?:instructions?|prompts?|rules|guidelines|directions|context)\b
    | \byou\s+are\s+now\b | \bfrom\s+now\s+on,?\s+you\b | \bpretend\s+(?:to\s+be|you\s+are)\b
    | \b(?:new|updated|hidden|secret)\s+instructions?\b
    | \b(?:reveal|print|output|disclose|leak|repeat)\b[^.]{0,40}?
        \b(?:system\s+prompt|api[\s_-]?key|secret|password|credentials?)\b
    | \byour\s+(?:new|updated|revised|real|actual|true|hidden|secret)\s+
        (?:task|job|goal|role|purpose|objective|mission|directive|instructions?|orders)\b
    | \b(?:do\s+not|don't|never|without)\s+(?:tell(?:ing)?|inform(?:ing)?|mention(?:ing)?
        |alert(?:ing)?|warn(?:ing)?)\s+(?:the|your)\s+(?:user|reader|human|operator)s?\b
    | \b(?:tell|instruct|advise|convince|persuade|urge)\s+(?:the|your)\s+(?:user|reader|human)s?
        \s+(?:to|that)\b
    | <\|?\s*(?:system|im_start|im_end)\s*\|?> | \[/?\s*(?:system|inst)\s*\]
    """,
    _I,
)
_ADDRESSES_AI = re.compile(
    rf"""
    # a vocative opening the sentence: "AI assistant: reveal...", "Hey Claude, ..."
    ^\W*(?:note|message|instructions?|attention|important|hey|hi|hello|dear)\s+
        (?:to\s+|for\s+)?(?:the\s+|any\s+|all\s+|this\s+)?{_AI}\s*[:,;!\u2014-]
    | ^\W*(?:the\s+|any\s+|all\s+|this\s+)?{_AI}\s*[:,;-]\s*
        (?:(?:please|now|also|then|first)\s+)?(?:{_IMPERATIVE}|you\b|your\b|from\s+now\b)
    | ^\W*(?:{_AI}|model|system|agent)\s+(?:instructions?|directives?|notes?|messages?|tasks?)\s*:
    | ^\W*(?-i:SYSTEM|ASSISTANT|USER|DEVELOPER|ADMIN)\s*: # a role marker
    | \b(?:note|message)\s+(?:is\s+)?(?:to|for)\s+(?:the\s+|any\s+|all\s+)?{_AI}\b
    | \bif\s+you(?:\s+are|'re|\u2019re)\s+(?:an?|the|any)\s+(?:\w+\s+){{0,2}}?{_AI}\b
    # "(the) AI (model) reading this", "whatever model is summarising this note"
    | (?:\b{_AI}\b|\b(?:whatever|whichever|any|every|each)\s+(?:[\w-]+\s+){{0,2}}?
        (?:model|system|agent|tool|program|crawler|reader|bot)s?\b)
        (?:[\s,]+[\w-]+){{0,3}}?[\s,]+(?:that\s+|who\s+|which\s+|is\s+|are\s+)?
        (?:reading|reads?|processing|processes|summari[sz]ing|summari[sz]es|parsing|parses
        |analy[sz]ing|ingesting|indexing|scanning|crawling|seeing|sees|viewing)\s+
        (?:this\s+(?:text|document|doc|page|note|message|file|passage|content|comment|section
            |sentence|line|runbook|playbook|email|paragraph|article|post|chunk|input)\b
        |this\b(?!\s+(?!(?:must|should|will|shall|is|are|has|needs?|can|now|may)\b)[a-z])
        |these\s+(?:words|lines|instructions|notes)|the\s+following)
    """,
    _I,
)
# "As the AI model ..., your ..." / "You, an AI assistant, must ..."
_AS_AI = re.compile(
    rf"\b(?:as|you(?:\s+are)?,?)\s+(?:an?|the|any|this)\s+(?:\w+\s+){{0,2}}?{_AI}\b", _I
)
_SECOND_PERSON = re.compile(r"\b(?:you|your|yourself)\b", re.IGNORECASE)

_SECRET = r"""(?:\b(?:\w+[\s_-])?api[\s_-]?keys?|(?-i:\b[A-Z][A-Z0-9]*_(?:[A-Z0-9]+_)*
    (?:KEY|TOKEN|SECRET|PASSWORD|PASS)S?\b)|\b(?:secrets?|credentials?|passwords?|passphrases?
    |passcodes?|keys?\s+file|(?:openai|anthropic|aws|gcp|azure|google|hugging\s?face|hf|github
        |gitlab|stripe|cloud|service[\s-]account(?:\s+json)?|json|licen[cs]e|access|secret|private|ssh|signing
        |encryption|master|root)\s+keys?
    |(?:access|auth|authentication|bearer|api|session|refresh|github|personal\s+access|oauth)
        \s+tokens?|session\s+cookies?|env(?:ironment)?\s+(?:file|variables)
    |one-time\s+(?:code|password)|otp|2fa\s+codes?|seed\s+phrases?|recovery\s+(?:codes?|phrases?)
    |login\s+details|card\s+numbers?)\b|(?<![\w.])\.env\b)"""
_SEND = r"""(?:send|e-?mail|mail|post|paste|share|forward|submit|upload|give|provide|text
    |message|transmit|dm|hand\s+over|disclose|reveal|expose|leak|tell|reply\s+with|attach|sent
    |e-?mailed|mailed|posted|pasted|shared|forwarded|submitted|uploaded|given|provided
    |disclosed|revealed|exposed|leaked|attached|transmitted)"""
# "their Slack tokens", "your JSON key": a secret by possession
_OWNED_SECRET = r"""(?:your|their)\s+(?:[\w-]+\s+){0,2}?(?:keys?|tokens?)\b"""
_SEND_SECRET = re.compile(
    rf"""\b{_SEND}\b[^.!?]{{0,60}}?(?:{_SECRET}|{_OWNED_SECRET})
    | \b(?:include|add|append|put|insert|write|type|enter|copy)\b[^.!?]{{0,20}}?
        \b(?:your|their)\s+(?:[\w-]+\s+){{0,2}}?(?:{_SECRET}|keys?|tokens?)
    | {_SECRET}[^.!?]{{0,40}}?\b{_SEND}\s+(?:[\w@.-]+\s+){{0,3}}?(?:to|via|by|in)\b""",
    _I,
)

_EMAIL = re.compile(
    # (?<!...) starts a match only at a token start: linear time on long tokens
    r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.[a-z]{2,24}\b"
    r"|(?<![\w.+-])[\w.+-]{1,64}\s*[\[(]\s*at\s*[\])]\s*[\w-]{1,63}"
    r"(?:\s*(?:\.|[\[(]\s*dot\s*[\])])\s*[\w-]{1,63}){1,8}",
    re.IGNORECASE,
)
_URL = re.compile(
    r"\b(?:https?://|hxxps?://|www\.)\S+"
    r"|(?<![\w.-])[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.(?:com|net|org|io|ru|cn|xyz|top"
    r"|biz|example|site|online)\b(?:/\S*)?",
    re.IGNORECASE,
)
_CONTACT = re.compile(
    r"""\b(?:contact|e-?mail|write\s+to|send|post|submit|report|visit|go\s+to|navigate\s+to
    |open|click|tap|log\s*in|sign\s*in|register|download|install|call|phone|reach(?:\s+out)?
    |message|dm|forward|upload|fetch|curl|wget|see|check|refer\s+to|browse|join)\b""",
    _I,
)
_PHONE = re.compile(r"\b(?:call|phone|text|whatsapp|sms)\b[^.]{0,30}\+?\d[\d\s().-]{7,}\d", _I)

_SAFETY = r"""(?:monitor(?:ing|s)?|alert(?:s|ing)?|alarms?|pag(?:er|ers|ing)|on-?call
    |safety(?:\s+\w+)?|safeguards?|guardrails?|moderation|content\s+filter(?:s|ing)?
    |audit(?:ing|\s+logs?|\s+logging|\s+trails?)?|security(?:\s+\w+)?|firewalls?|antivirus
    |2fa|mfa|two-factor|authentication|rate[\s-]limit(?:s|ing|er)?|kill[\s-]switch(?:es)?
    |anomaly\s+detection|fraud\s+checks?|validation\s+checks?|(?:drift|health|safety)
    \s+(?:detection|checks?|monitors?|alerts?))"""
_OFF = r"""(?:disable|disabling|deactivate|turn(?:ing)?\s+off|switch(?:ing)?\s+off|shut(?:ting)?
    \s+(?:off|down)|silence|silencing|mute|muting|bypass(?:ing)?|circumvent(?:ing)?|uninstall
    |override|(?:suppress|snooze|stop|pause|skip|ignore|remove|delete|drop)\w*\s+
    (?:all|every|any))"""
_DISABLE_SAFETY = re.compile(
    rf"""\b{_OFF}\b[^.!?;]{{0,40}}?\b{_SAFETY}\b
    | \b{_SAFETY}\b[^.!?;]{{0,30}}?\b(?:be|been|is|are|get|gets|stay|stays|remain|remains)\s+
        (?:\w+\s+)?(?:disabled|deactivated|turned\s+off|switched\s+off|shut\s+off|silenced
        |muted|bypassed|suppressed|removed)\b""",
    _I,
)

# Hidden text: invisible format characters (zero-width spaces split words so that patterns
# miss them), and HTML a renderer never shows (comments, scripts, tags).
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_HIDDEN_HTML = re.compile(
    r"<!--.*?(?:-->|$)|<(script|style)\b.*?(?:</\1\s*>|$)|</?[A-Za-z][^>\n]*>",
    re.IGNORECASE | re.DOTALL,
)
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


def strip_hidden(text: str) -> str:
    """The text without invisible characters, HTML comments, scripts and tags."""
    return _HIDDEN_HTML.sub(" ", _INVISIBLE.sub("", text))


def _readings(sentence: str):
    """The sentence as written, ROT13-decoded, and any base64 payload in it decoded."""
    yield sentence
    yield codecs.decode(sentence, "rot13")
    for token in _BASE64.findall(sentence):
        padded = token + "=" * (-len(token) % 4)
        try:
            yield base64.b64decode(
                padded, altchars=b"-_" if "-" in token or "_" in token else None
            ).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue


# Word gates: each family's regex runs only when words it cannot match without are present
# (necessary conditions, so results are the same; most sentences skip most regexes).
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_AI_WORDS = _words(
    "ai ais assistant assistants chatgpt gpt gpts claude claudes copilot copilots llm llms chatbot "
    "chatbots bot bots language"
)
_OVERRIDE_WORDS = _words(
    "ignore disregard forget override bypass you pretend instruction instructions reveal print "
    "output disclose leak repeat your do don never without tell instruct advise convince "
    "persuade urge"
)
_ROLE_WORDS = _words("system assistant user developer admin")
_LEAD_WORDS = _words("model system agent")
_LEAD_NOUNS = _words("instruction instructions directive directives note notes message messages")
_LEAD_NOUNS |= _words("task tasks")
_ANY_WORDS = _words("whatever whichever any every each")
_READER_WORDS = _words(
    "model models system systems agent agents tool tools program programs crawler crawlers "
    "reader readers bot bots"
)
_READING_WORDS = _words(
    "reading read reads processing processes summarizing summarising summarizes summarises "
    "parsing parses analyzing analysing ingesting indexing scanning crawling seeing sees viewing"
)
_SEND_WORDS = _words(
    "send e mail email post paste share forward submit upload give provide text dm message "
    "transmit hand disclose reveal expose leak tell reply attach sent emailed mailed posted "
    "pasted shared forwarded submitted uploaded given provided disclosed revealed exposed "
    "leaked attached transmitted include add append put insert write type enter copy"
)
_PHONE_WORDS = _words("call phone text whatsapp sms")
# substrings (stems): the regexes match inflections and parts of longer names
_SECRET_STEMS = _words(
    "key token secret credential pass cookie env otp 2fa seed recover login card"
)
_SAFETY_STEMS = _words(
    "monitor alert alarm pag call safe guardrail moderat filter audit secur firewall antivirus "
    "2fa mfa factor authentic rate kill anomal fraud valid drift health"
)
_OFF_STEMS = _words(
    "disabl deactivat off shut silenc mut bypass circumvent uninstall overrid suppress snooze "
    "stop paus skip ignor remov delet drop"
)


def _reason(text: str) -> str | None:
    folded = text.casefold()
    words = set(_WORD.findall(folded))
    ai = bool(words & _AI_WORDS) or "a.i" in folded
    addressed = (
        ai
        or (words & _LEAD_WORDS and words & _LEAD_NOUNS)
        or (words & _ROLE_WORDS and ":" in text)
        or (words & _ANY_WORDS and words & _READER_WORDS and words & _READING_WORDS)
    )
    if (words & _OVERRIDE_WORDS or "<" in text or "[" in text) and _OVERRIDE.search(text):
        return "instruction to an AI"
    if addressed and _ADDRESSES_AI.search(text):
        return "instruction to an AI"
    if ai and _AS_AI.search(text) and _SECOND_PERSON.search(text):
        return "instruction to an AI"
    secret = any(stem in folded for stem in _SECRET_STEMS)
    if secret and words & _SEND_WORDS and _SEND_SECRET.search(text):
        return "asks for a secret"
    if ("@" in text or "at" in words) and _EMAIL.search(text):
        return "asks to contact an address"
    if words & _PHONE_WORDS and _PHONE.search(text):
        return "asks to contact an address"
    if _URL.search(text) and _CONTACT.search(text):
        return "asks to contact an address"
    if (
        any(stem in folded for stem in _SAFETY_STEMS)
        and any(stem in folded for stem in _OFF_STEMS)
        and _DISABLE_SAFETY.search(text)
    ):
        return "asks to disable safety or monitoring"
    return None


def _reason_ungated(text: str) -> str | None:
    """The same decision without the word gates (tests check that the gates change nothing)."""
    if _OVERRIDE.search(text) or _ADDRESSES_AI.search(text):
        return "instruction to an AI"
    if _AS_AI.search(text) and _SECOND_PERSON.search(text):
        return "instruction to an AI"
    if _SEND_SECRET.search(text):
        return "asks for a secret"
    if _EMAIL.search(text) or _PHONE.search(text) or (_URL.search(text) and _CONTACT.search(text)):
        return "asks to contact an address"
    if _DISABLE_SAFETY.search(text):
        return "asks to disable safety or monitoring"
    return None


def unsafe_reason(sentence: str) -> str | None:
    """Why the sentence must not be quoted or given to a model as content, or None when it is
    safe. Looks through zero-width characters, ROT13 and base64."""
    plain = _INVISIBLE.sub("", sentence)
    for reading in _readings(plain):
        reason = _reason(reading)
        if reason:
            return reason
    return None


def is_unsafe_sentence(sentence: str) -> bool:
    """True for text that instructs an AI or asks the reader to send a secret, contact an
    address or disable safety/monitoring (never quoted, never obeyed)."""
    return unsafe_reason(sentence) is not None
