"""Text perturbations: keyboard typos, EDA synonym replacement, character and word noise, translation.

Each is a :class:`~mllmshift.shifts.base.TextPerturbation`; stop words,
numbers and placeholder tokens such as ``<image>`` are never damaged.
"""

#: registry name → ("module:Class", one-line description)
PERTURBATIONS: dict[str, tuple[str, str]] = {
    "keyboard": ("mllmshift.shifts.text.keyboard:KeyboardTypo",
                 "nlpaug KeyboardAug typos: word probability 0.05×level, keyboard-neighbour substitutions"),
    "synonym": ("mllmshift.shifts.text.synonym:SynonymReplacement",
                "EDA synonym replacement: max(1, ⌊0.05×level × words⌋) words replaced by WordNet synonyms"),
    "char_swap": ("mllmshift.shifts.text.noise:CharSwap", "swap two adjacent inner letters of a word (prob 0.05×level)"),
    "char_insert": ("mllmshift.shifts.text.noise:CharInsert", "insert a random letter into a word (prob 0.05×level)"),
    "char_delete": ("mllmshift.shifts.text.noise:CharDelete", "delete one letter of a word (prob 0.05×level)"),
    "word_dropout": ("mllmshift.shifts.text.noise:WordDropout", "drop a word (prob 0.05×level)"),
    "case_noise": ("mllmshift.shifts.text.noise:CaseNoise", "flip the case of a letter (prob 0.05×level)"),
    "translate": ("mllmshift.shifts.text.translate:Translation",
                  "translate with a pluggable translator and append an instruction"),
}
