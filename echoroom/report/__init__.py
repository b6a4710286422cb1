"""The report stage: settings -> data (named queries) -> view values -> charts -> render."""
