"""Reusable parts of the model recipes: loading, tokenizer training, quantisation, peft set-up, collation,
checkpointing, progress display and run cards."""
