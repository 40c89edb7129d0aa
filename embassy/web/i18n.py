"""The site's own words in each language, language names, script direction and Accept-Language.

Content (pages, news) is translated by staff in the database; these are the words of the frame
around it. A configured language without an entry here gets English words for the frame, but
its own ``lang`` and direction.
"""

from collections.abc import Sequence

from embassy.web.content_words import CONTENT_UI

RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur", "ps", "sd", "yi", "dv", "ug", "ckb"})

LANGUAGE_NAMES = {
    "kk": "Қазақша", "ru": "Русский", "en": "English", "fa": "فارسی", "ar": "العربية", "he": "עברית",
    "ur": "اردو", "de": "Deutsch", "fr": "Français", "es": "Español", "tr": "Türkçe", "zh": "中文",
    "uz": "Oʻzbekcha", "ky": "Кыргызча", "tg": "Тоҷикӣ", "tk": "Türkmençe", "az": "Azərbaycanca",
}  # fmt: skip

# Each language's name in English, for the note on a page shown in another language.
_EN_NAMES = {"kk": "Kazakh", "ru": "Russian", "en": "English", "fa": "Persian", "ar": "Arabic"}

OG_LOCALES = {"kk": "kk_KZ", "ru": "ru_RU", "en": "en_GB", "fa": "fa_IR", "ar": "ar_AR"}

UI: dict[str, dict[str, str]] = {
    "en": {
        "mirror_note": "This is a read-only copy of the mission's site, kept abroad for when the home site cannot be reached. Its forms and search do not work here; the contact page says how to reach the mission.",
        "mirror_search": "Searching needs the mission's home site, which this read-only copy cannot reach. Every page and news item in this language is listed below.",
        "skip": "Skip to main content",
        "languages": "Languages",
        "main_nav": "Main menu",
        "home": "Home",
        "news": "News",
        "consular": "Consular services",
        "travel": "Travel advice",
        "about": "About",
        "contact": "Contact",
        "search": "Search",
        "search_label": "Search the site",
        "search_results": "Search results",
        "search_none": "Nothing found for this search. Try fewer or shorter words.",
        "search_prompt": "Type one or more words to search pages and news in this language.",
        "latest_news": "Latest news",
        "all_news": "All news",
        "alerts": "Current alerts",
        "alert": "Alert",
        "published": "Published",
        "read_more": "Read more",
        "not_translated": "This page is not yet available in {wanted}. It is shown in {shown}.",
        "also_in": "Also available in:",
        "in_language": "in {language}",
        "verify": "Signed statement",
        "verify_hint": "This statement is signed with the mission's key. Download it to check the signature.",
        "feed": "News feed (Atom)",
        "alerts_feed": "Alerts feed (Atom)",
        "keys": "The mission's public keys",
        "privacy": "This site sets no cookies and loads nothing from other sites.",
        "demo": "A demonstration site: names, numbers and addresses are fictitious.",
        "older": "Older news",
        "newer": "Newer news",
        "page_n": "Page {n}",
        "in_this_section": "In this section",
        "contact_form": "Write to the mission",
        "channel": "What is it about?",
        "channel_general": "General inquiry",
        "channel_consular": "Consular service request",
        "channel_emergency": "Emergency: a citizen in trouble abroad",
        "your_name": "Your name",
        "your_email": "Your e-mail address",
        "email_hint": "We answer here. Optional for emergencies if you give a phone number.",
        "your_phone": "Phone number (optional)",
        "message": "Your message",
        "send": "Send the message",
        "required": "required",
        "not_open": "Online messages are not being accepted yet. Please use the e-mail address or the emergency line above; nothing you typed has been stored.",
        "case": "Follow your case",
        "case_intro": "Enter the tracking code you received when you wrote to us.",
        "tracking_code": "Tracking code",
        "code_hint": "For example: K7Q2-9MXD-4TRA",
        "show_case": "Show the case",
        "case_not_found": "No case has this tracking code. Check the code and try again.",
        "case_bad_code": "A tracking code has 12 letters and digits, in three groups of four.",
        "not_found": "Page not found",
        "not_found_text": "There is no page at this address. It may have moved; try the menu or search.",
        "error": "Something went wrong",
        "error_text": "The mission's site could not show this page. Please try again in a moment.",
        "bad_request": "This request could not be read",
        "bad_request_text": "The address or the form sent contains something the site cannot read. Check it, or start again from the home page.",
        "too_large": "Too much was sent",
        "too_large_text": "The form sent was larger than the site accepts (64 KB). Shorten it and send it again.",
        "too_many": "Too many requests",
        "too_many_text": "Too many requests came from your network in a short time. Please wait a minute and try again.",
        "go_home": "Go to the home page",
        "staff": "Staff sign-in",
        "staff_intro": "For the mission's staff only.",
        "staff_name": "Name",
        "password": "Password",
        "sign_in": "Sign in",
        "staff_closed": "Staff sign-in opens with staff publishing. Nothing was sent.",
    },
    "ru": {
        "mirror_note": "Это копия сайта представительства только для чтения, хранящаяся за рубежом на случай, когда основной сайт недоступен. Формы и поиск здесь не работают; как связаться с представительством, сказано на странице контактов.",
        "mirror_search": "Для поиска нужен основной сайт представительства, недоступный этой копии. Ниже перечислены все страницы и новости на этом языке.",
        "skip": "Перейти к основному содержанию",
        "languages": "Языки",
        "main_nav": "Главное меню",
        "home": "Главная",
        "news": "Новости",
        "consular": "Консульские услуги",
        "travel": "Советы путешественникам",
        "about": "О нас",
        "contact": "Контакты",
        "search": "Найти",
        "search_label": "Поиск по сайту",
        "search_results": "Результаты поиска",
        "search_none": "По этому запросу ничего не найдено. Попробуйте меньше слов или более короткие слова.",
        "search_prompt": "Введите одно или несколько слов, чтобы искать по страницам и новостям на этом языке.",
        "latest_news": "Последние новости",
        "all_news": "Все новости",
        "alerts": "Действующие предупреждения",
        "alert": "Предупреждение",
        "published": "Опубликовано",
        "read_more": "Подробнее",
        "not_translated": "Эта страница пока недоступна на языке: {wanted}. Она показана на языке: {shown}.",
        "also_in": "Также доступно:",
        "in_language": "на языке: {language}",
        "verify": "Подписанное заявление",
        "verify_hint": "Это заявление подписано ключом представительства. Скачайте его, чтобы проверить подпись.",
        "feed": "Лента новостей (Atom)",
        "alerts_feed": "Лента предупреждений (Atom)",
        "keys": "Открытые ключи представительства",
        "privacy": "Сайт не использует файлы cookie и ничего не загружает с других сайтов.",
        "demo": "Демонстрационный сайт: имена, номера и адреса вымышлены.",
        "older": "Более ранние новости",
        "newer": "Более новые новости",
        "page_n": "Страница {n}",
        "in_this_section": "В этом разделе",
        "contact_form": "Написать в представительство",
        "channel": "Тема обращения",
        "channel_general": "Общий вопрос",
        "channel_consular": "Заявка на консульскую услугу",
        "channel_emergency": "Экстренно: гражданин в беде за рубежом",
        "your_name": "Ваше имя",
        "your_email": "Ваш адрес электронной почты",
        "email_hint": "Мы ответим на этот адрес. В экстренном случае можно указать только телефон.",
        "your_phone": "Номер телефона (необязательно)",
        "message": "Ваше сообщение",
        "send": "Отправить сообщение",
        "required": "обязательно",
        "not_open": "Приём сообщений через сайт ещё не открыт. Пожалуйста, воспользуйтесь электронной почтой или экстренной линией выше; введённые данные не сохранены.",
        "case": "Статус обращения",
        "case_intro": "Введите код отслеживания, который вы получили, когда написали нам.",
        "tracking_code": "Код отслеживания",
        "code_hint": "Например: K7Q2-9MXD-4TRA",
        "show_case": "Показать обращение",
        "case_not_found": "Обращения с таким кодом нет. Проверьте код и попробуйте ещё раз.",
        "case_bad_code": "Код отслеживания состоит из 12 букв и цифр в трёх группах по четыре.",
        "not_found": "Страница не найдена",
        "not_found_text": "По этому адресу страницы нет. Возможно, она перемещена; воспользуйтесь меню или поиском.",
        "error": "Произошла ошибка",
        "error_text": "Сайт представительства не смог показать эту страницу. Попробуйте ещё раз через минуту.",
        "bad_request": "Запрос не удалось прочитать",
        "bad_request_text": "В адресе или в отправленной форме есть то, что сайт не может прочитать. Проверьте их или начните заново с главной страницы.",
        "too_large": "Отправлено слишком много",
        "too_large_text": "Отправленная форма больше, чем принимает сайт (64 КБ). Сократите текст и отправьте ещё раз.",
        "too_many": "Слишком много запросов",
        "too_many_text": "Из вашей сети за короткое время пришло слишком много запросов. Подождите минуту и попробуйте снова.",
        "go_home": "На главную страницу",
        "staff": "Вход для сотрудников",
        "staff_intro": "Только для сотрудников представительства.",
        "staff_name": "Имя",
        "password": "Пароль",
        "sign_in": "Войти",
        "staff_closed": "Вход для сотрудников откроется вместе с публикацией материалов. Ничего не отправлено.",
    },
    "kk": {
        "mirror_note": "Бұл — өкілдік сайтының тек оқуға арналған көшірмесі, негізгі сайт қолжетімсіз болған жағдайға шетелде сақталады. Мұнда формалар мен іздеу жұмыс істемейді; өкілдікпен қалай байланысуға болатыны байланыс бетінде жазылған.",
        "mirror_search": "Іздеу үшін өкілдіктің негізгі сайты керек, бұл көшірме оған қол жеткізе алмайды. Төменде осы тілдегі барлық беттер мен жаңалықтар берілген.",
        "skip": "Негізгі мазмұнға өту",
        "languages": "Тілдер",
        "main_nav": "Басты мәзір",
        "home": "Басты бет",
        "news": "Жаңалықтар",
        "consular": "Консулдық қызметтер",
        "travel": "Саяхатшыларға кеңестер",
        "about": "Біз туралы",
        "contact": "Байланыс",
        "search": "Іздеу",
        "search_label": "Сайттан іздеу",
        "search_results": "Іздеу нәтижелері",
        "search_none": "Бұл сұраныс бойынша ештеңе табылмады. Азырақ немесе қысқарақ сөздерді қолданып көріңіз.",
        "search_prompt": "Осы тілдегі беттер мен жаңалықтардан іздеу үшін бір немесе бірнеше сөз енгізіңіз.",
        "latest_news": "Соңғы жаңалықтар",
        "all_news": "Барлық жаңалықтар",
        "alerts": "Қолданыстағы ескертулер",
        "alert": "Ескерту",
        "published": "Жарияланды",
        "read_more": "Толығырақ",
        "not_translated": "Бұл бет әзірге мына тілде жоқ: {wanted}. Ол мына тілде көрсетілген: {shown}.",
        "also_in": "Басқа тілдерде:",
        "in_language": "тілі: {language}",
        "verify": "Қол қойылған мәлімдеме",
        "verify_hint": "Бұл мәлімдемеге өкілдіктің кілтімен қол қойылған. Қолтаңбаны тексеру үшін оны жүктеп алыңыз.",
        "feed": "Жаңалықтар таспасы (Atom)",
        "alerts_feed": "Ескертулер таспасы (Atom)",
        "keys": "Өкілдіктің ашық кілттері",
        "privacy": "Сайт cookie файлдарын пайдаланбайды және басқа сайттардан ештеңе жүктемейді.",
        "demo": "Демонстрациялық сайт: есімдер, нөмірлер мен мекенжайлар ойдан алынған.",
        "older": "Ертеректегі жаңалықтар",
        "newer": "Жаңарақ жаңалықтар",
        "page_n": "{n}-бет",
        "in_this_section": "Осы бөлімде",
        "contact_form": "Өкілдікке жазу",
        "channel": "Өтініштің тақырыбы",
        "channel_general": "Жалпы сұрақ",
        "channel_consular": "Консулдық қызметке өтінім",
        "channel_emergency": "Шұғыл: шетелде қиын жағдайға тап болған азамат",
        "your_name": "Атыңыз",
        "your_email": "Электрондық пошта мекенжайыңыз",
        "email_hint": "Біз осы мекенжайға жауап береміз. Шұғыл жағдайда тек телефон нөмірін көрсетуге болады.",
        "your_phone": "Телефон нөмірі (міндетті емес)",
        "message": "Хабарламаңыз",
        "send": "Хабарламаны жіберу",
        "required": "міндетті",
        "not_open": "Сайт арқылы хабарлама қабылдау әлі ашылған жоқ. Жоғарыдағы электрондық поштаны немесе шұғыл желіні пайдаланыңыз; енгізген деректеріңіз сақталмады.",
        "case": "Өтініштің мәртебесі",
        "case_intro": "Бізге жазған кезде алған бақылау кодыңызды енгізіңіз.",
        "tracking_code": "Бақылау коды",
        "code_hint": "Мысалы: K7Q2-9MXD-4TRA",
        "show_case": "Өтінішті көрсету",
        "case_not_found": "Мұндай кодпен өтініш жоқ. Кодты тексеріп, қайталап көріңіз.",
        "case_bad_code": "Бақылау коды төрттен үш топқа бөлінген 12 әріп пен цифрдан тұрады.",
        "not_found": "Бет табылмады",
        "not_found_text": "Бұл мекенжайда бет жоқ. Ол басқа жерге көшкен болуы мүмкін; мәзірді немесе іздеуді пайдаланыңыз.",
        "error": "Қате орын алды",
        "error_text": "Өкілдік сайты бұл бетті көрсете алмады. Бір минуттан соң қайталап көріңіз.",
        "bad_request": "Сұрауды оқу мүмкін болмады",
        "bad_request_text": "Мекенжайда немесе жіберілген формада сайт оқи алмайтын нәрсе бар. Оларды тексеріңіз немесе басты беттен қайта бастаңыз.",
        "too_large": "Тым көп жіберілді",
        "too_large_text": "Жіберілген форма сайт қабылдайтыннан үлкен (64 КБ). Мәтінді қысқартып, қайта жіберіңіз.",
        "too_many": "Сұраулар тым көп",
        "too_many_text": "Сіздің желіңізден қысқа уақытта тым көп сұрау келді. Бір минут күтіп, қайталап көріңіз.",
        "go_home": "Басты бетке өту",
        "staff": "Қызметкерлердің кіруі",
        "staff_intro": "Тек өкілдік қызметкерлеріне арналған.",
        "staff_name": "Аты",
        "password": "Құпиясөз",
        "sign_in": "Кіру",
        "staff_closed": "Қызметкерлердің кіруі материалдарды жариялаумен бірге ашылады. Ештеңе жіберілген жоқ.",
    },
    "fa": {
        "skip": "رفتن به محتوای اصلی",
        "languages": "زبان‌ها",
        "main_nav": "منوی اصلی",
        "home": "خانه",
        "news": "اخبار",
        "consular": "خدمات کنسولی",
        "travel": "توصیه‌های سفر",
        "about": "درباره ما",
        "contact": "تماس",
        "search": "جستجو",
        "search_label": "جستجو در سایت",
        "search_results": "نتایج جستجو",
        "search_none": "برای این جستجو چیزی پیدا نشد. واژه‌های کمتر یا کوتاه‌تری را امتحان کنید.",
        "search_prompt": "برای جستجو در صفحه‌ها و اخبار این زبان، یک یا چند واژه بنویسید.",
        "latest_news": "تازه‌ترین اخبار",
        "all_news": "همه اخبار",
        "alerts": "هشدارهای جاری",
        "alert": "هشدار",
        "published": "تاریخ انتشار",
        "read_more": "بیشتر بخوانید",
        "not_translated": "این صفحه هنوز به زبان {wanted} در دسترس نیست و به زبان {shown} نمایش داده می‌شود.",
        "also_in": "به زبان‌های دیگر:",
        "in_language": "به زبان {language}",
        "verify": "بیانیه امضاشده",
        "verify_hint": "این بیانیه با کلید نمایندگی امضا شده است. برای بررسی امضا آن را دریافت کنید.",
        "feed": "خوراک اخبار (Atom)",
        "alerts_feed": "خوراک هشدارها (Atom)",
        "keys": "کلیدهای عمومی نمایندگی",
        "privacy": "این سایت هیچ کوکی‌ای ذخیره نمی‌کند و چیزی از سایت‌های دیگر بارگیری نمی‌کند.",
        "demo": "سایت نمایشی: نام‌ها، شماره‌ها و نشانی‌ها ساختگی هستند.",
        "older": "اخبار قدیمی‌تر",
        "newer": "اخبار جدیدتر",
        "page_n": "صفحه {n}",
        "in_this_section": "در این بخش",
        "contact_form": "نامه به نمایندگی",
        "channel": "موضوع پیام",
        "channel_general": "پرسش عمومی",
        "channel_consular": "درخواست خدمات کنسولی",
        "channel_emergency": "اضطراری: شهروندی در خارج در وضعیت دشوار",
        "your_name": "نام شما",
        "your_email": "نشانی ایمیل شما",
        "email_hint": "پاسخ را به این نشانی می‌فرستیم. در موارد اضطراری می‌توانید فقط شماره تلفن بدهید.",
        "your_phone": "شماره تلفن (اختیاری)",
        "message": "پیام شما",
        "send": "ارسال پیام",
        "required": "الزامی",
        "not_open": "دریافت پیام از طریق سایت هنوز آغاز نشده است. لطفاً از ایمیل یا خط اضطراری بالا استفاده کنید؛ چیزی از نوشته‌های شما ذخیره نشد.",
        "case": "پیگیری پرونده",
        "case_intro": "کد پیگیری‌ای را که هنگام نوشتن به ما دریافت کردید وارد کنید.",
        "tracking_code": "کد پیگیری",
        "code_hint": "برای نمونه: K7Q2-9MXD-4TRA",
        "show_case": "نمایش پرونده",
        "case_not_found": "پرونده‌ای با این کد پیگیری وجود ندارد. کد را بررسی و دوباره امتحان کنید.",
        "case_bad_code": "کد پیگیری ۱۲ حرف و رقم در سه گروه چهارتایی است.",
        "not_found": "صفحه پیدا نشد",
        "not_found_text": "در این نشانی صفحه‌ای وجود ندارد. شاید جابه‌جا شده باشد؛ از منو یا جستجو استفاده کنید.",
        "error": "خطایی رخ داد",
        "error_text": "سایت نمایندگی نتوانست این صفحه را نمایش دهد. لطفاً کمی بعد دوباره امتحان کنید.",
        "bad_request": "این درخواست خوانده نشد",
        "bad_request_text": "در نشانی یا فرم ارسال‌شده چیزی هست که سایت نمی‌تواند بخواند. آن را بررسی کنید یا از صفحهٔ اصلی دوباره شروع کنید.",
        "too_large": "حجم ارسال‌شده زیاد است",
        "too_large_text": "فرم ارسال‌شده از اندازه‌ای که سایت می‌پذیرد (۶۴ کیلوبایت) بزرگ‌تر است. آن را کوتاه کنید و دوباره بفرستید.",
        "too_many": "درخواست‌ها بیش از حد است",
        "too_many_text": "در مدت کوتاهی درخواست‌های زیادی از شبکهٔ شما رسید. لطفاً یک دقیقه صبر کنید و دوباره امتحان کنید.",
        "go_home": "رفتن به صفحه اصلی",
        "staff": "ورود کارکنان",
        "staff_intro": "فقط برای کارکنان نمایندگی.",
        "staff_name": "نام",
        "password": "گذرواژه",
        "sign_in": "ورود",
        "staff_closed": "ورود کارکنان همراه با انتشار محتوا فعال می‌شود. چیزی ارسال نشد.",
    },
}

MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
    "ru": ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
           "ноября", "декабря"],
    "kk": ["қаңтар", "ақпан", "наурыз", "сәуір", "мамыр", "маусым", "шілде", "тамыз", "қыркүйек", "қазан",
           "қараша", "желтоқсан"],
    "fa": ["ژانویه", "فوریه", "مارس", "آوریل", "مه", "ژوئن", "ژوئیه", "اوت", "سپتامبر", "اکتبر", "نوامبر",
           "دسامبر"],
}  # fmt: skip


for _lang, _extra in CONTENT_UI.items():  # the words of published content's history and banners
    UI.setdefault(_lang, {}).update(_extra)


class Words:
    """The frame's words in one language (English where a word is missing)."""

    __slots__ = ("_table",)

    def __init__(self, lang: str, extra: dict[str, dict[str, str]] | None = None) -> None:
        self._table = {**UI["en"], **UI.get(lang, {})}
        if extra:  # another part's words (the staff area's), English where missing
            self._table.update({**extra["en"], **extra.get(lang, {})})

    def __getitem__(self, key: str) -> str:
        return self._table[key]

    def __call__(self, key: str, **values: str) -> str:
        return self._table[key].format(**values)


def words(lang: str) -> Words:
    return Words(lang)


def direction(lang: str) -> str:
    return "rtl" if lang.split("-")[0] in RTL_LANGUAGES else "ltr"


def language_name(lang: str) -> str:
    return LANGUAGE_NAMES.get(lang, LANGUAGE_NAMES.get(lang.split("-")[0], lang))


def language_name_in(lang: str, in_lang: str) -> str:
    """How to name ``lang`` inside a sentence written in ``in_lang`` (its own name where unsure)."""
    if in_lang == "en":
        return _EN_NAMES.get(lang, language_name(lang))
    return language_name(lang)


def format_date(iso: str, lang: str) -> str:
    """``2026-11-24T06:30:00Z`` as a reader of ``lang`` writes the date."""
    year, month, day = int(iso[0:4]), int(iso[5:7]), int(iso[8:10])
    base = lang.split("-")[0]
    names = MONTHS.get(base, MONTHS["en"])
    if base == "kk":
        return f"{year} жылғы {day} {names[month - 1]}"
    if base == "ru":
        return f"{day} {names[month - 1]} {year} г."
    if base == "en":
        return f"{day} {names[month - 1]} {year}"
    return f"{day} {names[month - 1]} {year}"


def negotiate(header: str | None, languages: Sequence[str]) -> str:
    """The configured language the visitor prefers most (RFC 9110 Accept-Language), else the first."""
    if not header:
        return languages[0]
    prefs: list[tuple[float, int, str]] = []
    for i, part in enumerate(header[:1000].split(",")[:40]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        if tag and q > 0:
            prefs.append((-q, i, tag.strip().lower()))
    lowered = {lang.lower(): lang for lang in languages}
    for _, _, tag in sorted(prefs):
        if tag == "*":
            return languages[0]
        if tag in lowered:
            return lowered[tag]
        primary = tag.split("-")[0]
        for low, lang in lowered.items():
            if low.split("-")[0] == primary:
                return lang
    return languages[0]
