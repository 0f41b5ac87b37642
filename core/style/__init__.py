"""Style facts: what a person's texts show about how they write, measured by code, no model.

`text_facts` reads one text (greeting, closing, lengths, punctuation and casing habits);
`profile_facts` folds many into a profile's facts; `facts_store` keeps them per document in
the store so an import only measures what is new; `final_check` checks a drafted final
against them; `rule_check` checks distilled rules against them; `attribution` says whose
text a draft reads like. Everything here is pa's measurement, never a model's claim.
"""
