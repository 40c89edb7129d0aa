"""The staff area's words in English, Russian and Kazakh (the frame's own words are in i18n.py).

A mission language without an entry here gets the staff area in English: staff pages are
offered in :data:`STAFF_LANGUAGES` only, whichever the browser prefers.
"""

from embassy.web.staff.words import en, inbox, kk, publishing, ru

STAFF_LANGUAGES = ("kk", "ru", "en")

STAFF_WORDS = {
    lang: {**base, **publishing.WORDS[lang], **extra}
    for lang, base, extra in (("en", en.WORDS, inbox.EN), ("ru", ru.WORDS, inbox.RU), ("kk", kk.WORDS, inbox.KK))
}
