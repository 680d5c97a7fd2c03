//! Month and weekday names of several languages (German, French, Spanish, Italian,
//! Portuguese, Dutch, Russian, Turkish, Polish), full forms of four letters or more, so that
//! dates written in words mask like English ones (`Jun`, `Friday` are in `mask`). Short
//! forms such as `mai` or `maj` are left out: too close to ordinary words.

use std::collections::HashSet;
use std::sync::OnceLock;

const NAMES: &[&str] = &[
    // German
    "januar",
    "februar",
    "märz",
    "juni",
    "juli",
    "oktober",
    "dezember",
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "samstag",
    "sonntag",
    // French
    "janvier",
    "février",
    "mars",
    "avril",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    // Spanish
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
    "lunes",
    "martes",
    "miércoles",
    "jueves",
    "viernes",
    "sábado",
    "domingo",
    // Italian
    "gennaio",
    "febbraio",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "settembre",
    "ottobre",
    "dicembre",
    "lunedì",
    "martedì",
    "mercoledì",
    "giovedì",
    "venerdì",
    "sabato",
    "domenica",
    // Portuguese
    "janeiro",
    "fevereiro",
    "março",
    "maio",
    "junho",
    "julho",
    "setembro",
    "outubro",
    "dezembro",
    "segunda-feira",
    "terça-feira",
    "quarta-feira",
    "quinta-feira",
    "sexta-feira",
    // Dutch
    "januari",
    "februari",
    "maart",
    "augustus",
    "maandag",
    "dinsdag",
    "woensdag",
    "donderdag",
    "vrijdag",
    "zaterdag",
    "zondag",
    // Russian (nominative and genitive months)
    "январь",
    "февраль",
    "март",
    "апрель",
    "июнь",
    "июль",
    "август",
    "сентябрь",
    "октябрь",
    "ноябрь",
    "декабрь",
    "января",
    "февраля",
    "марта",
    "апреля",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
    "понедельник",
    "вторник",
    "среда",
    "четверг",
    "пятница",
    "суббота",
    "воскресенье",
    // Turkish
    "ocak",
    "şubat",
    "mart",
    "nisan",
    "mayıs",
    "haziran",
    "temmuz",
    "ağustos",
    "eylül",
    "ekim",
    "kasım",
    "aralık",
    "pazartesi",
    "salı",
    "çarşamba",
    "perşembe",
    "cuma",
    "cumartesi",
    "pazar",
    // Polish
    "styczeń",
    "luty",
    "marzec",
    "kwiecień",
    "czerwiec",
    "lipiec",
    "sierpień",
    "wrzesień",
    "październik",
    "listopad",
    "grudzień",
    "poniedziałek",
    "wtorek",
    "środa",
    "czwartek",
    "piątek",
    "sobota",
    "niedziela",
];

fn names() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| NAMES.iter().copied().collect())
}

/// Whether `s`, all lower case or capitalised, is a month or day name of [`NAMES`].
pub(crate) fn is_local_date_name(s: &str) -> bool {
    let n = s.chars().count();
    if !(4..=13).contains(&n) {
        return false;
    }
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(char::is_alphabetic);
    if !first_ok || !chars.all(|c| c.is_lowercase() || c == '-') {
        return false;
    }
    if s.is_ascii() {
        let mut buf = [0u8; 16];
        let Some(b) = buf.get_mut(..s.len()) else {
            return false;
        };
        b.copy_from_slice(s.as_bytes());
        b[0] = b[0].to_ascii_lowercase();
        return std::str::from_utf8(b).is_ok_and(|l| names().contains(l));
    }
    names().contains(s.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names() {
        for s in ["Montag", "mars", "Décembre", "января", "Eylül", "pazartesi"] {
            assert!(is_local_date_name(s), "{s}");
        }
        for s in ["MONTAG", "mai", "Marsh", "monday", "müller", "mArs"] {
            assert!(!is_local_date_name(s), "{s}");
        }
    }
}
