// Kind "g2p": English text in, phonemes out (docs/artifact-format.md, "Kind g2p";
// docs/lexicon-format.md). It owns three things:
//   - the text front end (text.h): g2p-en's number expansion, accent stripping and tokenizer;
//   - a pronunciation lexicon (lexicon.h), a file of the artifact mapped read-only;
//   - a seq2seq-gru network (models/seq2seq_gru), configured by the section's "network", for
//     the words the lexicon lacks.
// Each word is looked up first (a whole input without spaces or digits that is a lexicon word
// is that word, even where the tokenizer would split it: "a.m.", "'bout", "students'"); only out-of-lexicon words run the network (token-exact with
// the kind "seq2seq-gru" on the same word). Punctuation tokens pass through as themselves.
//
// OUTPUT FORMAT of ev_generate / ev_generate_batch / the token stream: tokens separated by one
// space. A word contributes its phonemes; a punctuation token itself; consecutive words and
// punctuation tokens are separated by the token "|" (WORD SEPARATOR), so
//   "hello"            -> "HH AH0 L OW1"                  (a single word: as before)
//   "Hello, world."    -> "HH AH0 L OW1 | , | W ER1 L D | ."
//   "" / "  " / emoji  -> ""                              (no tokens, no phonemes)
// Streams and token callbacks receive the same tokens (phoneme ids for phonemes, -1 for "|"
// and punctuation), so " ".join(stream) equals ev_generate's output.
//
// Generation parameters: max_tokens bounds each word's phonemes (lexicon words are cut too;
// <= 0: the network's default per word, lexicon words whole); sampling parameters affect only
// network words (a lexicon pronunciation is a fact, not a draw); stop sequences cut the whole
// output text. Seeds: one per prompt, as for every kind; the network word at token index k
// uses seed ^ (k * 0x9E3779B97F4A7C15), so a one-word prompt uses the prompt's seed itself.
#pragma once

#include "models/kind.h"

namespace ev {

std::unique_ptr<ModelInstance> create_g2p(const KindInputs& inputs);

}  // namespace ev
