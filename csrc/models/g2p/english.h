// The English reader: what English text holds that g2p-en's normalization misreads, written out
// as the words a person says, BEFORE g2p-en's steps (text.h) run on the result. Text in, text
// out; what no rule matches passes through unchanged, so normalize_numbers still reads plain
// integers, years and ordinals exactly as g2p-en does.
//
// Two passes, each one left-to-right over the text (O(n); lookaround is bounded to a few dozen
// bytes, nothing recurses):
//   1. shouting: a sentence with no lowercase letter and three or more words of two or more
//      letters is shouted text: its words are lowercased, except words without a vowel (BBC,
//      HTML), so that capitals keep meaning "an acronym" (read_as_letters()) only where they
//      stand out. Any kLetterNameMark byte in the input is dropped here.
//   2. the rules, at the start of a word or number (docs/lexicon-format.md lists them with
//      examples): phone numbers digit by digit ("555-1234", "(555) 123-4567", "+1 555 123
//      4567"); times ("7:45", "7:05", "7:00", "7:45 pm", "7pm"); money with $ £ € ¥ (units and
//      cents/pence, singular for 1, "million"/"k"/"M"/"bn" scales); percent; degrees (°C °F °);
//      a short table of units after a number (km, kg, cm, mph, GB, min, ...); numbers with
//      thousands separators as cardinals ("1,234" one thousand two hundred thirty-four) and
//      decimals digit by digit after the point ("3.14" three point one four); the abbreviations
//      Dr./St. by context (doctor/saint before a name, drive/street after one or after a number),
//      "No. 5" and "#5" (number five), titles before a name (Mr., Mrs., Ms. lose the dot that
//      would end a sentence; Prof., Capt., Sgt., Lt., Gen., Gov. are written out), approx., dept.;
//      capitals with dots ("U.S.", "A.I.") letter by letter; "&" between spaces (and).
// Numbers the rules read are written as words here (never left as digits for
// normalize_numbers, which would read "1234" as a year).
//
// Input: valid UTF-8 (tokenize_text validates first); the output is valid UTF-8.
#pragma once

#include <string>

#include "models/g2p/text.h"

namespace ev {
namespace g2p {

// Put by read_english() before a letter that is said by its name ("7 pm": "seven \x01p \x01m");
// the tokenizer makes the word "<letter>." of it, CMUdict's spelling of that letter's name
// ("p." P IY1; a plain "a" would read AH0).
constexpr char kLetterNameMark = '\x01';

std::string read_english(const std::string& utf8);
// The same, with where each output byte was read from: `in` describes `utf8` (one entry per
// byte), *out receives one entry per byte of the result (text.h, SourceSpans).
std::string read_english(const std::string& utf8, const SourceSpans& in, SourceSpans* out);

// Whether a word is read letter by letter ("GPU" -> G P U). `cased`: the word as written, with
// the capitals that survived the shouting pass. The rule: 2 to 5 letters, all capitals; spelled
// when the lexicon lacks the word, and, among lexicon words, only AI, AM, ID, PM and US, whose
// capitals in mixed-case text mean the letters, not the words "ai", "am", "id", "pm", "us".
// Other capitalized lexicon words keep the lexicon's reading (NASA, OK, IT, FBI: CMUdict spells
// the acronyms it has); shouted text is lowercased before, so its words are never spelled
// unless they have no vowel.
bool read_as_letters(const std::string& cased, bool in_lexicon);

}  // namespace g2p
}  // namespace ev
