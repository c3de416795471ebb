"""Generation backends implementing ``rtletter.model.generator.Generator``: local transformers and OpenAI HTTP."""
