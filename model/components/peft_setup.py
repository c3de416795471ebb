"""LoRA set-up with peft: adapters on every linear layer of the transformer blocks (QLoRA's recipe)."""

from __future__ import annotations

from typing import Any


def lora_config(
    rank: int,
    alpha: int,
    dropout: float,
    target_modules: str | list[str] = "all-linear",
    modules_to_save: list[str] | None = None,
) -> Any:
    """The ``peft.LoraConfig`` for causal-LM fine-tuning.

    Args:
        rank: LoRA rank r (QLoRA paper: 64; 16 is enough for one letter style).
        alpha: scaling numerator; the update is scaled by alpha / r.
        dropout: dropout on the LoRA input.
        target_modules: ``"all-linear"`` (every Linear / Linear4bit except the output head) or module names.
        modules_to_save: modules trained in full and saved with the adapter (``lm_head``, ``embed_tokens``): for a
            small base trained from scratch whose output layer has never seen the letters' words; never for 8B.

    Returns:
        A ``LoraConfig`` with task type CAUSAL_LM.
    """
    from peft import LoraConfig, TaskType

    return LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        modules_to_save=modules_to_save,
        bias="none",
        task_type=TaskType.CAUSAL_LM,
    )


def attach_lora(model: Any, config: Any, *, quantized: bool, gradient_checkpointing: bool) -> Any:
    """Freeze the base, prepare a 4-bit base for training, and wrap it with trainable LoRA adapters.

    Args:
        model: the loaded base ``PreTrainedModel`` (full precision or bitsandbytes 4-bit).
        config: a ``LoraConfig`` from :func:`lora_config`.
        quantized: the base is 4-bit: run peft's ``prepare_model_for_kbit_training`` (norms in float32, input
            gradients enabled so checkpointed activations can backpropagate into the adapters).
        gradient_checkpointing: recompute activations in the backward pass (GPU memory for time; off on CPU).

    Returns:
        The ``PeftModel``.
    """
    from peft import get_peft_model, prepare_model_for_kbit_training

    if quantized:
        keep_4bit_layers_differentiable(model)
        model = prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]
            model,
            use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.config.use_cache = False  # the KV cache is useless in training and clashes with checkpointing
    return get_peft_model(model, config)


def keep_4bit_layers_differentiable(model: Any) -> int:
    """Keep every bitsandbytes 4-bit layer of a model under training on its differentiable matmul.

    On a CPU with AVX512-BF16, ``Linear4bit`` repacks its weight for the ``gemv_4bit`` inference kernel on the first
    eval-mode forward (the Trainer's validation pass) and keeps it so; ``gemv_4bit`` has no backward, so every later
    training step loses the gradient through the frozen base layers (layer-0 adapter gradients fell to a third and
    the demo adapter wrote dots). Call before the first forward pass. Returns the number of 4-bit layers.
    """
    import bitsandbytes as bnb

    layers = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            weight: Any = module.weight  # a Params4bit, typed as its Tensor base: quant_state is not on Tensor
            if getattr(weight.quant_state, "packing_format_for_cpu", False):
                raise RuntimeError("a 4-bit layer was already repacked for CPU inference: load the model afresh")
            module.support_avx512bf16_for_cpu = False  # the flag Linear4bit.forward reads before repacking
            layers += 1
    return layers


def trainable_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit weights count as their unpacked size."""
    trainable, total = model.get_nb_trainable_parameters()
    return int(trainable), int(total)
